/// Splits a protobuf message into its top-level fields without decoding them. The
/// frontend walks ModelProto and GraphProto with it so that each node and initializer is
/// handed to protobuf-c on its own and released right after: the whole model is never
/// unpacked at once. Every read is bounds-checked; bad bytes throw, never trap.
struct ProtoWireReader {
    enum Payload {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        /// A length-delimited field: its bytes as offsets into the buffer.
        case bytes(Range<Int>)
    }

    struct Field {
        var number: Int
        var payload: Payload
    }

    let buffer: UnsafeRawBufferPointer
    private(set) var offset: Int
    let end: Int

    init(_ buffer: UnsafeRawBufferPointer, range: Range<Int>? = nil) {
        self.buffer = buffer
        self.offset = range?.lowerBound ?? 0
        self.end = range?.upperBound ?? buffer.count
    }

    /// The next field, or nil at the end of the message.
    mutating func next() throws -> Field? {
        guard offset < end else { return nil }
        let start = offset
        let key = try readVarint()
        let number = Int(key >> 3)
        guard number > 0, number < 1 << 29 else { throw malformed(at: start, "field number \(key >> 3)") }
        switch key & 7 {
        case 0:
            return Field(number: number, payload: .varint(try readVarint()))
        case 1:
            return Field(number: number, payload: .fixed64(try readFixed(8)))
        case 2:
            let length = try readVarint()
            guard length <= UInt64(end - offset) else { throw malformed(at: start, "a field of \(length) bytes runs past the end") }
            let range = offset..<(offset + Int(length))
            offset = range.upperBound
            return Field(number: number, payload: .bytes(range))
        case 5:
            return Field(number: number, payload: .fixed32(UInt32(try readFixed(4))))
        default:
            throw malformed(at: start, "wire type \(key & 7)")
        }
    }

    func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: buffer[range]), as: UTF8.self)
    }

    private mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw malformed(at: offset, "truncated varint") }
            let byte = buffer[offset]
            offset += 1
            guard shift < 64 else { throw malformed(at: offset, "varint longer than 10 bytes") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    private mutating func readFixed(_ size: Int) throws -> UInt64 {
        guard end - offset >= size else { throw malformed(at: offset, "truncated fixed-size field") }
        var value: UInt64 = 0
        for index in 0..<size { value |= UInt64(buffer[offset + index]) << (8 * UInt64(index)) }
        offset += size
        return value
    }

    private func malformed(at position: Int, _ what: String) -> ImportError {
        ImportError("malformed protobuf at byte \(position): \(what)")
    }
}
