/// A malformed, truncated or mismatched program or weights file. The message is one
/// sentence for the user; `offset` locates the problem when there is one.
public struct BytecodeError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Appends little-endian fixed-width integers and LEB128 varints.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(value & 0xFF))
        bytes.append(UInt8(value >> 8))
    }

    mutating func u32(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((value >> UInt32(shift)) & 0xFF)) }
    }

    mutating func raw(_ data: some Sequence<UInt8>) { bytes.append(contentsOf: data) }

    /// Unsigned LEB128.
    mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// A non-negative count or index.
    mutating func count(_ value: Int) {
        precondition(value >= 0, "negative count")
        varint(UInt64(value))
    }

    /// Zigzag-encoded signed value.
    mutating func signed(_ value: Int64) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        count(utf8.count)
        raw(utf8)
    }
}

/// Reads what ByteWriter writes from untrusted bytes: every read is bounds-checked and
/// every count is checked against a limit before anything is allocated.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int
    /// Names the file in errors.
    let what: String

    init(_ bytes: [UInt8], from start: Int = 0, what: String) {
        self.bytes = bytes
        self.offset = start
        self.end = bytes.count
        self.what = what
    }

    var isAtEnd: Bool { offset == end }

    func error(_ message: String) -> BytecodeError {
        BytecodeError("\(what) is corrupt: \(message) (at byte \(offset))")
    }

    mutating func u8() throws -> UInt8 {
        guard offset < end else { throw BytecodeError("\(what) is truncated (ends at byte \(end))") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws -> UInt16 {
        let low = try u8(), high = try u8()
        return UInt16(low) | UInt16(high) << 8
    }

    mutating func u32() throws -> UInt32 {
        var value: UInt32 = 0
        for shift in stride(from: 0, to: 32, by: 8) { value |= UInt32(try u8()) << UInt32(shift) }
        return value
    }

    mutating func raw(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= end - offset else { throw BytecodeError("\(what) is truncated (needs \(count) more bytes at byte \(offset))") }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try u8()
            if shift == 63 && byte > 1 { throw error("a varint overflows 64 bits") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { throw error("a varint is longer than 10 bytes") }
        }
    }

    /// A count or index no larger than `limit`.
    mutating func count(max limit: Int, _ name: String) throws -> Int {
        let value = try varint()
        guard value <= UInt64(limit) else { throw error("\(name) \(value) exceeds the limit \(limit)") }
        return Int(value)
    }

    mutating func signed() throws -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// A signed value that fits `range`.
    mutating func signed(in range: ClosedRange<Int>, _ name: String) throws -> Int {
        let value = try signed()
        guard value >= Int64(range.lowerBound), value <= Int64(range.upperBound) else {
            throw error("\(name) \(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(value)
    }

    mutating func string(max limit: Int = 4096) throws -> String {
        let length = try count(max: limit, "string length")
        let data = try raw(length)
        guard let text = String(validating: data, as: UTF8.self) else { throw error("a name is not valid UTF-8") }
        return text
    }
}
