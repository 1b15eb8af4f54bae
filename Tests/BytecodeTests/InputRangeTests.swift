import Testing

@testable import Bytecode

/// The program's input range: part of the format, checked when decoded, and the clamp
/// every client applies before encoding.
@Suite struct InputRangeTests {
    @Test func roundTripsAndIsHashed() throws {
        var program = Fixtures.small()
        let plain = program.hash
        program.inputRange = -2.5...3.25
        let decoded = try Program(decoding: program.encoded())
        #expect(decoded.inputRange == -2.5...3.25)
        #expect(program.hash != plain)
        #expect(try Program(decoding: Fixtures.small().encoded()).inputRange == nil)
    }

    @Test func invalidRangesAreRejected() {
        for (low, high) in [(Float.nan, 1), (0, Float.infinity), (2, 1)] as [(Float, Float)] {
            var bytes = Fixtures.small().encoded()
            bytes[bytes.count - 1] = 1
            for bound in [low, high] { bytes += withUnsafeBytes(of: bound.bitPattern.littleEndian) { Array($0) } }
            #expect(decodingError(Bytes.rehashed(bytes))?.message.contains("input range") == true, "[\(low), \(high)]")
        }
        var bytes = Fixtures.small().encoded()
        bytes[bytes.count - 1] = 2
        #expect(decodingError(Bytes.rehashed(bytes))?.message.contains("input range flag 2") == true)
    }

    @Test func clampCountsWhatItMoves() {
        let (values, outside) = FixedPoint.clamped([-5, -1, 0, 1, 7, .nan], to: -1...1)
        #expect(outside == 3)
        #expect(Array(values.prefix(5)) == [-1, -1, 0, 1, 1] && values[5] == -1)
        #expect(FixedPoint.clamped([100], to: nil) == ([100], 0))
    }
}
