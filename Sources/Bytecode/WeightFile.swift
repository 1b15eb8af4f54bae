import Crypto

/// The server's weights (.mpcw): fixed-point integers for every WeightInfo of one
/// program, bound to it by the program hash. Each tensor is stored in the narrowest
/// little-endian two's-complement width (1, 2, 4 or 8 bytes) that holds all its values.
public struct WeightFile: Sendable, Equatable {
    public static let formatVersion: UInt16 = 1
    public static let magic: [UInt8] = Array("MPCW".utf8)
    static let headerSize = 80

    public var programHash: [UInt8]
    public var tensors: [[Int64]]

    public init(programHash: [UInt8], tensors: [[Int64]]) {
        self.programHash = programHash
        self.tensors = tensors
    }

    /// Header: magic, version, flags, program hash, SHA-256 of the body, body length;
    /// body: count, then per tensor its width, element count and values.
    public func encoded() -> [UInt8] {
        var body = ByteWriter()
        body.count(tensors.count)
        for values in tensors {
            let width = WeightFile.width(of: values)
            body.u8(UInt8(width))
            body.count(values.count)
            switch width {
            case 1: body.raw(values.map { UInt8(bitPattern: Int8(truncatingIfNeeded: $0)) })
            case 2: values.map { Int16(truncatingIfNeeded: $0).littleEndian }.withUnsafeBytes { body.raw($0) }
            case 4: values.map { Int32(truncatingIfNeeded: $0).littleEndian }.withUnsafeBytes { body.raw($0) }
            default: values.map { $0.littleEndian }.withUnsafeBytes { body.raw($0) }
            }
        }
        var writer = ByteWriter()
        writer.raw(WeightFile.magic)
        writer.u16(WeightFile.formatVersion)
        writer.u16(0)
        writer.raw(programHash)
        writer.raw(SHA256.hash(data: body.bytes))
        let length = UInt64(body.bytes.count)
        writer.u32(UInt32(length & 0xFFFF_FFFF))
        writer.u32(UInt32(length >> 32))
        writer.raw(body.bytes)
        return writer.bytes
    }

    /// Narrowest of 1, 2, 4, 8 bytes that holds every value.
    static func width(of values: [Int64]) -> Int {
        let low = values.min() ?? 0, high = values.max() ?? 0
        if low >= Int64(Int8.min) && high <= Int64(Int8.max) { return 1 }
        if low >= Int64(Int16.min) && high <= Int64(Int16.max) { return 2 }
        if low >= Int64(Int32.min) && high <= Int64(Int32.max) { return 4 }
        return 8
    }

    /// Decodes untrusted bytes and checks them against `program`: same hash, one tensor
    /// per weight with its element count.
    public init(decoding bytes: [UInt8], for program: Program, name: String = "the weights file") throws {
        guard bytes.count >= 4, Array(bytes[0..<4]) == WeightFile.magic else {
            throw BytecodeError("\(name) is not an mpcc weights file (no MPCW magic)")
        }
        var reader = ByteReader(bytes, from: 4, what: name)
        let version = try reader.u16()
        guard version == WeightFile.formatVersion else {
            throw BytecodeError("\(name) has format version \(version); this mpcr reads version \(WeightFile.formatVersion)")
        }
        guard try reader.u16() == 0 else { throw reader.error("unknown flags") }
        let hash = Array(try reader.raw(32))
        guard hash == program.hash else {
            throw BytecodeError("\(name) belongs to another program (its program hash differs from the program's)")
        }
        let digest = Array(try reader.raw(32))
        let length = UInt64(try reader.u32()) | UInt64(try reader.u32()) << 32
        guard length == UInt64(bytes.count - WeightFile.headerSize) else {
            throw UInt64(bytes.count - WeightFile.headerSize) < length
                ? BytecodeError("\(name) is truncated: the header announces \(length) bytes of weights, the file has \(bytes.count - WeightFile.headerSize)")
                : BytecodeError("\(name) is corrupt: extra bytes follow the weights")
        }
        guard Array(SHA256.hash(data: bytes[WeightFile.headerSize...])) == digest else {
            throw BytecodeError("\(name) is corrupt: its weights do not match the SHA-256 digest in its header")
        }
        let count = try reader.count(max: program.weights.count, "tensor count")
        guard count == program.weights.count else {
            throw reader.error("it holds \(count) tensors; the program needs \(program.weights.count)")
        }
        var tensors: [[Int64]] = []
        tensors.reserveCapacity(count)
        for weight in program.weights {
            let width = Int(try reader.u8())
            guard [1, 2, 4, 8].contains(width) else { throw reader.error("tensor \(weight.name) has width \(width)") }
            let elements = try reader.count(max: 1 << 30, "element count")
            guard elements == weight.elementCount else {
                throw reader.error("tensor \(weight.name) has \(elements) values; its shape \(weight.shape) needs \(weight.elementCount)")
            }
            let data = try reader.raw(elements * width)
            tensors.append(data.withUnsafeBytes { raw in
                switch width {
                case 1: return raw.bindMemory(to: Int8.self).map { Int64($0) }
                case 2: return (0..<elements).map { Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self))) }
                case 4: return (0..<elements).map { Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
                default: return (0..<elements).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
                }
            })
        }
        guard reader.isAtEnd else { throw reader.error("unexpected bytes after the last tensor") }
        self.init(programHash: hash, tensors: tensors)
    }
}

extension WeightFile {
    /// OUT.mpcw beside OUT.mpcb: where mpcc writes the weights and mpcr looks for them.
    public static func path(forProgram path: String) -> String {
        (path.hasSuffix(".mpcb") ? String(path.dropLast(5)) : path) + ".mpcw"
    }
}
