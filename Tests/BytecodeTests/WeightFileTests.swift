import TestSupport
import Testing

@testable import Bytecode

@Suite struct WeightFileTests {
    /// A valid program with four weight tensors (the instructions do not use them).
    static let program: Program = {
        var program = Fixtures.chain([Instruction(make(Neg.self) { $0.x = 0 }, shape: [1, 2, 4, 4], source: "n")])
        program.weights = [
            WeightInfo(name: "narrow", shape: [2, 2], fracBits: 12),
            WeightInfo(name: "short", shape: [3], fracBits: 12),
            WeightInfo(name: "int", shape: [2], fracBits: 24),
            WeightInfo(name: "long", shape: [1, 1], fracBits: 24),
        ]
        return program
    }()

    static let tensors: [[Int64]] = [
        [-128, 127, 0, -1],  // 1 byte
        [128, -129, 32767],  // 2 bytes
        [-32769, Int64(Int32.max)],  // 4 bytes
        [Int64(Int32.max) + 1],  // 8 bytes
    ]

    static var file: WeightFile { WeightFile(programHash: program.hash, tensors: tensors) }

    @discardableResult
    static func weightsError(_ bytes: [UInt8], for program: Program = program, sourceLocation: SourceLocation = #_sourceLocation) -> BytecodeError? {
        do {
            _ = try WeightFile(decoding: bytes, for: program)
            Issue.record("decoding succeeded", sourceLocation: sourceLocation)
        } catch let error as BytecodeError {
            return error
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    @Test func widthsAreTheNarrowest() {
        #expect(WeightFile.width(of: []) == 1)
        #expect(WeightFile.width(of: [-128, 127]) == 1)
        #expect(WeightFile.width(of: [128]) == 2)
        #expect(WeightFile.width(of: [-129]) == 2)
        #expect(WeightFile.width(of: [Int64(Int16.min), Int64(Int16.max)]) == 2)
        #expect(WeightFile.width(of: [Int64(Int16.max) + 1]) == 4)
        #expect(WeightFile.width(of: [Int64(Int32.min)]) == 4)
        #expect(WeightFile.width(of: [Int64(Int32.min) - 1]) == 8)
        #expect(WeightFile.width(of: [.min, .max]) == 8)
    }

    @Test func roundTripsEveryWidth() throws {
        let bytes = Self.file.encoded()
        // Header 80; body: tensor count (1), then per tensor width (1) + count (1) + values.
        #expect(bytes.count == 80 + 1 + (2 + 4 * 1) + (2 + 3 * 2) + (2 + 2 * 4) + (2 + 1 * 8))
        let decoded = try WeightFile(decoding: bytes, for: Self.program)
        #expect(decoded == Self.file)
        #expect(decoded.tensors == Self.tensors)
        #expect(Array(bytes[8..<40]) == Self.program.hash)
    }

    @Test func roundTripsAgainstADecodedProgram() throws {
        let decodedProgram = try Program(decoding: Self.program.encoded())
        let decoded = try WeightFile(decoding: Self.file.encoded(), for: decodedProgram)
        #expect(decoded.tensors == Self.tensors)
    }

    @Test func extremeValuesRoundTrip() throws {
        var program = Self.program
        program.weights = [WeightInfo(name: "x", shape: [4], fracBits: 0), WeightInfo(name: "empty", shape: [0, 3], fracBits: 0)]
        let file = WeightFile(programHash: program.hash, tensors: [[.min, .max, 0, -1], []])
        #expect(try WeightFile(decoding: file.encoded(), for: program) == file)
    }

    @Test func rejectsAnotherProgram() {
        var other = Self.program
        other.fracBits = 13
        let error = Self.weightsError(Self.file.encoded(), for: other)
        #expect(error?.message.contains("another program") == true)
        var renamed = Self.program
        renamed.weights[0].name = "renamed"
        #expect(Self.weightsError(Self.file.encoded(), for: renamed)?.message.contains("another program") == true)
    }

    @Test func rejectsTruncatedFiles() {
        let bytes = Self.file.encoded()
        for length in 0..<bytes.count {
            let error = Self.weightsError(Array(bytes[0..<length]))
            if length >= 80 { #expect(error?.message.contains("truncated") == true, "length \(length): \(String(describing: error))") }
        }
    }

    @Test func rejectsFlippedBodyBytes() {
        let bytes = Self.file.encoded()
        for position in 80..<bytes.count {
            var flipped = bytes
            flipped[position] ^= 0x10
            #expect(Self.weightsError(flipped)?.message.contains("SHA-256") == true)
        }
        // Every flip anywhere fails one check or another.
        for position in 0..<bytes.count {
            var flipped = bytes
            flipped[position] ^= 0x01
            Self.weightsError(flipped)
        }
    }

    @Test func rejectsBadMagicVersionAndFlags() {
        var bytes = Self.file.encoded()
        bytes[0] = UInt8(ascii: "X")
        #expect(Self.weightsError(bytes)?.message.contains("no MPCW magic") == true)
        #expect(Self.weightsError(Self.program.encoded())?.message.contains("no MPCW magic") == true)
        bytes = Self.file.encoded()
        bytes[4] = 2
        #expect(Self.weightsError(bytes)?.message.contains("format version 2") == true)
        bytes = Self.file.encoded()
        bytes[6] = 1
        #expect(Self.weightsError(bytes)?.message.contains("unknown flags") == true)
        #expect(Self.weightsError(Self.file.encoded() + [0])?.message.contains("extra bytes") == true)
    }

    @Test func rejectsContentsThatDoNotFitTheProgram() {
        let hash = Self.program.hash
        let tooFew = WeightFile(programHash: hash, tensors: Array(Self.tensors.dropLast()))
        #expect(Self.weightsError(tooFew.encoded())?.message.contains("holds 3 tensors; the program needs 4") == true)
        let tooMany = WeightFile(programHash: hash, tensors: Self.tensors + [[1]])
        #expect(Self.weightsError(tooMany.encoded()) != nil)
        var wrongCount = Self.tensors
        wrongCount[1].append(5)
        #expect(Self.weightsError(WeightFile(programHash: hash, tensors: wrongCount).encoded())?.message.contains("tensor short has 4 values") == true)

        // A width the format does not have, behind a valid digest.
        var bytes = Self.file.encoded()
        #expect(bytes[81] == 1)
        bytes[81] = 3
        #expect(Self.weightsError(Bytes.rehashedWeights(bytes))?.message.contains("width 3") == true)
        // Trailing bytes inside the digest.
        #expect(Self.weightsError(Bytes.rehashedWeights(Self.file.encoded() + [0, 0]))?.message.contains("after the last tensor") == true)
    }

    /// Random edits behind a recomputed digest: a clean error or a decoded file, never a trap.
    @Test func fuzzedBodiesNeverTrap() {
        var random = SeededGenerator(state: 0x3E16)
        let bytes = Self.file.encoded()
        var decoded = 0
        for _ in 0..<2000 {
            var mutated = bytes
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let position = Int.random(in: 80..<mutated.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: mutated[position] = UInt8.random(in: 0...255, using: &random)
                case 1: mutated.insert(UInt8.random(in: 0...255, using: &random), at: position)
                default: if mutated.count > 81 { mutated.remove(at: position) }
                }
            }
            do {
                _ = try WeightFile(decoding: Bytes.rehashedWeights(mutated), for: Self.program)
                decoded += 1
            } catch is BytecodeError {
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(decoded > 0)  // value bytes change freely
    }
}
