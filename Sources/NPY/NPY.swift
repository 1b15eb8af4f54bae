#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An array read from or written to a NumPy `.npy` file: little-endian float32 or int64,
/// C order. Files are untrusted: every header field is checked and errors say what is
/// wrong in one sentence.
public struct NPYArray: Equatable, Sendable {
    public enum Data: Equatable, Sendable {
        case float32([Float])
        case int64([Int64])
    }

    public var shape: [Int]
    public var data: Data

    public init(shape: [Int], float32 values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape does not match the data")
        self.shape = shape
        self.data = .float32(values)
    }

    public init(shape: [Int], int64 values: [Int64]) {
        precondition(shape.reduce(1, *) == values.count, "shape does not match the data")
        self.shape = shape
        self.data = .int64(values)
    }

    public var elementCount: Int { shape.reduce(1, *) }

    /// The values as floats (int64 converted).
    public var floats: [Float] {
        switch data {
        case .float32(let values): return values
        case .int64(let values): return values.map { Float($0) }
        }
    }
}

public struct NPYError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension NPYArray {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
    /// Refuse arrays beyond this many elements (a hostile header must not exhaust memory).
    public static let maxElements = 1 << 32

    /// Reads a `.npy` file.
    public static func read(path: String) throws -> NPYArray {
        guard let file = fopen(path, "rb") else {
            throw NPYError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count > 0 { bytes += chunk[0..<count] }
            if count < chunk.count { break }
        }
        guard ferror(file) == 0 else { throw NPYError("cannot read \(path)") }
        do {
            return try decode(bytes)
        } catch let error as NPYError {
            throw NPYError("\(path) is not a valid .npy file: \(error.message)")
        }
    }

    /// Parses the bytes of a `.npy` file (format versions 1.0, 2.0 and 3.0).
    public static func decode(_ bytes: [UInt8]) throws -> NPYArray {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw NPYError("the magic string is missing") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw NPYError("the header is truncated") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw NPYError("format version \(major) is not supported")
        }
        guard headerLength <= bytes.count - headerStart else { throw NPYError("the header is truncated") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        let fields = try parseHeader(header)
        let dataStart = headerStart + headerLength
        let available = bytes.count - dataStart
        guard let count = fields.shape.reduce(Optional(1), { product, dim in
            guard let product, dim >= 0 else { return nil }
            let (result, overflow) = product.multipliedReportingOverflow(by: dim)
            return overflow || result > maxElements ? nil : result
        }) else { throw NPYError("shape \(fields.shape) is invalid or too large") }
        guard available == count * fields.itemSize else {
            throw NPYError("it holds \(available) data bytes, shape \(fields.shape) needs \(count * fields.itemSize)")
        }
        let array: NPYArray = bytes.withUnsafeBytes { raw in
            let data = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            if fields.isFloat {
                return NPYArray(shape: fields.shape, float32: (0..<count).map { data.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) })
            }
            return NPYArray(shape: fields.shape, int64: (0..<count).map { data.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) })
        }
        if fields.fortranOrder {
            return array.transposedFromFortranOrder()
        }
        return array
    }

    private struct HeaderFields {
        var isFloat: Bool
        var itemSize: Int
        var fortranOrder: Bool
        var shape: [Int]
    }

    /// Parses the Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    private static func parseHeader(_ header: String) throws -> HeaderFields {
        func value(of key: String) throws -> Substring {
            guard let keyRange = header.firstRange(of: "'\(key)'") ?? header.firstRange(of: "\"\(key)\"") else {
                throw NPYError("the header has no '\(key)'")
            }
            var rest = header[keyRange.upperBound...].drop { $0 == " " }
            guard rest.first == ":" else { throw NPYError("the header is malformed near '\(key)'") }
            rest = rest.dropFirst().drop { $0 == " " }
            return rest
        }
        let descrText = try value(of: "descr")
        guard let quote = descrText.first, quote == "'" || quote == "\"",
            let close = descrText.dropFirst().firstIndex(of: quote)
        else { throw NPYError("the header's descr is malformed") }
        let descr = String(descrText[descrText.index(after: descrText.startIndex)..<close])
        let isFloat: Bool
        switch descr {
        case "<f4", "=f4", "f4": isFloat = true
        case "<i8", "=i8", "i8": isFloat = false
        default: throw NPYError("dtype '\(descr)' is not supported (use little-endian float32 or int64)")
        }
        let order = try value(of: "fortran_order")
        let fortran: Bool
        if order.hasPrefix("False") { fortran = false } else if order.hasPrefix("True") { fortran = true } else {
            throw NPYError("the header's fortran_order is malformed")
        }
        let shapeText = try value(of: "shape")
        guard shapeText.first == "(", let end = shapeText.firstIndex(of: ")") else { throw NPYError("the header's shape is malformed") }
        let inner = shapeText[shapeText.index(after: shapeText.startIndex)..<end]
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let trimmed = part.filter { $0 != " " && $0 != "L" }
            guard !trimmed.isEmpty else { continue }
            guard let dim = Int(trimmed), dim >= 0 else { throw NPYError("the header's shape has an invalid dimension '\(part)'") }
            shape.append(dim)
        }
        return HeaderFields(isFloat: isFloat, itemSize: isFloat ? 4 : 8, fortranOrder: fortran, shape: shape)
    }

    /// Reorders Fortran-order data into C order.
    private func transposedFromFortranOrder() -> NPYArray {
        let rank = shape.count
        guard rank > 1 else { return self }
        var fortranStrides = [Int](repeating: 1, count: rank)
        for axis in 1..<rank { fortranStrides[axis] = fortranStrides[axis - 1] * shape[axis - 1] }
        let count = elementCount
        func source(_ flat: Int) -> Int {
            var rest = flat
            var index = 0
            for axis in stride(from: rank - 1, through: 0, by: -1) {
                index += (rest % shape[axis]) * fortranStrides[axis]
                rest /= shape[axis]
            }
            return index
        }
        switch data {
        case .float32(let values): return NPYArray(shape: shape, float32: (0..<count).map { values[source($0)] })
        case .int64(let values): return NPYArray(shape: shape, int64: (0..<count).map { values[source($0)] })
        }
    }

    /// The bytes of a version 1.0 `.npy` file holding this array.
    public func encode() -> [UInt8] {
        let descr: String
        switch data {
        case .float32: descr = "<f4"
        case .int64: descr = "<i8"
        }
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(\(shape.map(String.init).joined(separator: ", ")))"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Pad with spaces so the data starts on a 64-byte boundary; end with a newline.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = NPYArray.magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        switch data {
        case .float32(let values): values.withUnsafeBytes { bytes += $0 }
        case .int64(let values): values.withUnsafeBytes { bytes += $0 }
        }
        return bytes
    }

    /// Writes a version 1.0 `.npy` file.
    public func write(path: String) throws {
        guard let file = fopen(path, "wb") else {
            throw NPYError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let bytes = encode()
        let written = fwrite(bytes, 1, bytes.count, file)
        let closed = fclose(file)
        guard written == bytes.count, closed == 0 else { throw NPYError("cannot write \(path): the disk may be full") }
    }
}
