import Testing

@testable import Bytecode

/// Damaged files: every truncation, every byte flip, bad headers, trailing bytes.
@Suite struct CorruptionTests {
    @Test(arguments: ["small", "every opcode"])
    func everyTruncationFails(_ which: String) {
        let bytes = (which == "small" ? Fixtures.small() : Fixtures.everyOpcode()).encoded()
        for length in 0..<bytes.count {
            let error = decodingError(Array(bytes[0..<length]))
            if length >= 48 {
                #expect(error?.message.contains("truncated") == true, "length \(length): \(String(describing: error))")
            }
        }
    }

    /// Truncations behind a recomputed length and hash reach the parser.
    @Test(arguments: ["small", "every opcode"])
    func everyRehashedTruncationFails(_ which: String) {
        let bytes = (which == "small" ? Fixtures.small() : Fixtures.everyOpcode()).encoded()
        for length in 48..<bytes.count {
            decodingError(Bytes.rehashed(Array(bytes[0..<length])))
        }
    }

    @Test func everyByteFlipFails() {
        let bytes = Fixtures.small().encoded()
        for position in bytes.indices {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var flipped = bytes
                flipped[position] ^= mask
                decodingError(flipped)
            }
        }
    }

    /// Flips behind a recomputed hash: the parser and verifier see them; each is a clean
    /// error or a program that re-encodes.
    @Test(arguments: ["small", "every opcode"])
    func everyRehashedByteChangeIsHandled(_ which: String) {
        let bytes = (which == "small" ? Fixtures.small() : Fixtures.everyOpcode()).encoded()
        var accepted = 0
        for position in bytes.indices where !(12..<48).contains(position) {
            for change: (UInt8) -> UInt8 in [{ $0 ^ 0x01 }, { $0 ^ 0x02 }, { $0 ^ 0x40 }, { $0 ^ 0x80 }, { _ in 0 }, { _ in 0x7F }, { _ in 0xFF }] {
                var changed = bytes
                changed[position] = change(changed[position])
                if changed == bytes { continue }
                if exercise(Bytes.rehashed(changed)) != nil { accepted += 1 }
            }
        }
        // Some changes (names, costs, attribute values) make other valid programs.
        #expect(accepted > 0)
    }

    @Test func badMagic() {
        var bytes = Fixtures.small().encoded()
        bytes[3] = UInt8(ascii: "W")
        #expect(decodingError(bytes)?.message.contains("no MPCB magic") == true)
        #expect(decodingError([])?.message.contains("no MPCB magic") == true)
        #expect(decodingError(Array("MPC".utf8))?.message.contains("no MPCB magic") == true)
        let weights = WeightFile(programHash: Fixtures.small().hash, tensors: [[], []]).encoded()
        #expect(decodingError(weights)?.message.contains("no MPCB magic") == true)
    }

    @Test func wrongVersion() {
        for version: UInt8 in [0, 1, 2, 3, 4, 6, 0xFF] {
            var bytes = Fixtures.small().encoded()
            bytes[4] = version
            #expect(decodingError(bytes)?.message.contains("format version \(version)") == true)
            // Also with a matching hash: the version is checked first either way.
            #expect(decodingError(Bytes.rehashed(bytes))?.message.contains("format version \(version)") == true)
        }
        var bytes = Fixtures.small().encoded()
        bytes[5] = 1
        #expect(decodingError(bytes)?.message.contains("format version \(256 + Int(Program.formatVersion))") == true)
    }

    @Test func badParameters() {
        let cases: [(Int, UInt8, String)] = [
            (6, 1, "unknown flags"), (8, 32, "not Z_2^64"), (9, 0, "fractional bits 0"), (9, 31, "fractional bits 31"),
            (10, 1, "approximate DReLU bits 1"), (10, 65, "approximate DReLU bits 65"),
        ]
        for (position, value, fragment) in cases {
            var bytes = Fixtures.small().encoded()
            bytes[position] = value
            #expect(decodingError(Bytes.rehashed(bytes))?.message.contains(fragment) == true, "\(fragment)")
        }
        // The reserved byte 11 is not checked, but it is hashed.
        var bytes = Fixtures.small().encoded()
        bytes[11] = 1
        #expect(decodingError(bytes)?.message.contains("SHA-256") == true)
    }

    @Test func trailingBytes() {
        let bytes = Fixtures.small().encoded()
        #expect(decodingError(bytes + [0])?.message.contains("1 bytes follow the program") == true)
        #expect(decodingError(bytes + [0, 0, 0])?.message.contains("3 bytes follow the program") == true)
        // Counted in the header and hashed: the parser finds them.
        #expect(decodingError(Bytes.rehashed(bytes + [0]))?.message.contains("unexpected bytes after the input range") == true)
    }

    @Test func hashMismatch() {
        var bytes = Fixtures.small().encoded()
        bytes[20] ^= 1
        #expect(decodingError(bytes)?.message.contains("do not match the SHA-256") == true)
        bytes = Fixtures.small().encoded()
        bytes[bytes.count - 1] ^= 1
        #expect(decodingError(bytes)?.message.contains("do not match the SHA-256") == true)
    }

    @Test func lengthFieldMismatch() {
        var bytes = Fixtures.small().encoded()
        bytes[44] &+= 1
        #expect(decodingError(bytes)?.message.contains("truncated: the header announces") == true)
        bytes = Fixtures.small().encoded()
        bytes[47] = 0xFF
        #expect(decodingError(bytes)?.message.contains("truncated") == true)
    }

    @Test func errorsNameTheFile() {
        do {
            _ = try Program(decoding: [1, 2, 3, 4, 5], name: "model.mpcb")
            Issue.record("decoded garbage")
        } catch let error as BytecodeError {
            #expect(error.message.hasPrefix("model.mpcb"))
            #expect(error.description == error.message)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
