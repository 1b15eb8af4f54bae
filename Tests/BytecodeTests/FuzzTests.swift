import SharedKernels
import TestSupport
import Testing

@testable import Bytecode

/// Mutated programs: every case is a BytecodeError or a program that re-encodes,
/// disassembles and costs without trapping. Most mutations recompute the header's length
/// and hash so the parser and the verifier see them.
@Suite struct FuzzTests {
    static let bases: [[UInt8]] = [
        Fixtures.everyOpcode().encoded(),
        Fixtures.small().encoded(),
        Fixtures.chain([
            Instruction(make(BlockReLU.self) { $0.blocks = [BlockSize(2, 2), .identity]; $0.comparison = Comparison(bits: 12, dropped: 2) }, shape: [1, 2, 4, 4], source: "b"),
            Instruction(make(Concat.self) { $0.xs = [1, 0]; $0.axis = 2 }, shape: [1, 2, 8, 4], source: "c"),
            Instruction(make(Slice.self) { $0.x = 2; $0.starts = [0, 1, 7, 0]; $0.steps = [1, -1, -3, 1] }, shape: [1, 2, 3, 4], source: "s"),
        ]).encoded(),
    ]

    /// Values that stress varint fields: zero, one-byte edges, multi-byte, huge.
    static let interesting: [UInt64] = [0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 31, 63, 64, 127, 128, 255, 256, 1 << 14, 1 << 15, 1 << 16, (1 << 16) + 1,
                                        (1 << 30) - 1, 1 << 30, (1 << 30) + 1, 1 << 31, 1 << 32, 1 << 59, (1 << 59) - 1, 1 << 62, UInt64(Int64.max), UInt64.max]

    static func mutate(_ base: [UInt8], _ random: inout SeededGenerator) -> (bytes: [UInt8], rehash: Bool) {
        var bytes = base
        let header = Bytes.header
        func bodyPosition() -> Int { Int.random(in: header..<max(bytes.count, header + 1), using: &random) }
        switch Int.random(in: 0..<20, using: &random) {
        case 0:  // raw byte changes anywhere
            for _ in 0..<Int.random(in: 1...3, using: &random) { bytes[Int.random(in: bytes.indices, using: &random)] = UInt8.random(in: 0...255, using: &random) }
            return (bytes, false)
        case 1:  // raw insertion or deletion
            let position = Int.random(in: 0..<bytes.count, using: &random)
            if Bool.random(using: &random) { bytes.insert(UInt8.random(in: 0...255, using: &random), at: position) } else { bytes.remove(at: position) }
            return (bytes, false)
        case 2:  // raw truncation
            return (Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &random))), false)
        case 3:  // header parameters
            bytes[Int.random(in: 4..<12, using: &random)] = UInt8.random(in: 0...255, using: &random)
            return (bytes, true)
        case 4, 5, 6, 7, 8:  // body byte changes
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let position = bodyPosition()
                if position < bytes.count {
                    bytes[position] = Bool.random(using: &random) ? UInt8.random(in: 0...255, using: &random) : bytes[position] ^ (1 << UInt8.random(in: 0..<8, using: &random))
                }
            }
        case 9, 10, 11:  // small body values: +-1, 0, 1
            let position = bodyPosition()
            if position < bytes.count {
                bytes[position] = [bytes[position] &+ 1, bytes[position] &- 1, 0, 1, 0x7F, 0x80][Int.random(in: 0..<6, using: &random)]
            }
        case 12, 13, 14:  // replace a byte with an interesting varint
            let position = bodyPosition()
            if position < bytes.count {
                let value = interesting.randomElement(using: &random)!
                bytes.replaceSubrange(position..<(position + 1), with: Bytes.varint(value))
            }
        case 15, 16:  // body insertions and deletions
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let position = bodyPosition()
                if Bool.random(using: &random) || position >= bytes.count {
                    bytes.insert(UInt8.random(in: 0...255, using: &random), at: min(position, bytes.count))
                } else {
                    bytes.remove(at: position)
                }
            }
        case 17:  // body truncation
            bytes = Array(bytes.prefix(Int.random(in: header...bytes.count, using: &random)))
        case 18:  // duplicate a run of the body elsewhere
            let start = bodyPosition(), length = Int.random(in: 1...16, using: &random)
            let run = Array(bytes[start..<min(start + length, bytes.count)])
            bytes.insert(contentsOf: run, at: bodyPosition())
        default:  // delete a run
            let start = bodyPosition()
            bytes.removeSubrange(start..<min(start + Int.random(in: 1...16, using: &random), bytes.count))
        }
        return (bytes, true)
    }

    @Test func mutatedProgramsNeverTrap() {
        // BYTECODE_FUZZ_CASES and BYTECODE_FUZZ_SEED run longer or other campaigns.
        let cases = getenvString("BYTECODE_FUZZ_CASES").flatMap { Int($0) } ?? 12_000
        var random = SeededGenerator(state: getenvString("BYTECODE_FUZZ_SEED").flatMap { UInt64($0) } ?? 0x6D70_6362)
        var decoded = 0, rejected = 0, rehashedDecoded = 0
        for index in 0..<cases {
            let base = Self.bases[index % Self.bases.count]
            var (bytes, rehash) = Self.mutate(base, &random)
            // Stacked mutations now and then.
            if rehash && index % 7 == 0 { bytes = Self.mutate(bytes, &random).bytes }
            if rehash { bytes = Bytes.rehashed(bytes) }
            if exercise(bytes) != nil {
                decoded += 1
                if rehash && bytes != base { rehashedDecoded += 1 }
            } else {
                rejected += 1
            }
        }
        #expect(decoded + rejected == cases)
        // The parser was reached: some mutations make other valid programs, most are caught.
        #expect(rehashedDecoded > 100)
        #expect(rejected > cases / 2)
        if getenvString("BYTECODE_FUZZ_CASES") != nil { print("fuzz: \(cases) cases, \(decoded) decoded (\(rehashedDecoded) after a rehashed mutation), \(rejected) rejected") }
    }
}

/// Sets every field of an operation to a random value, mostly inside the decoder's
/// range, sometimes just outside it.
struct FieldMutator: FieldVisitor {
    var random: SeededGenerator
    let registers: Int
    let weights: Int

    mutating func pick(_ values: [Int]) -> Int { values.randomElement(using: &random)! }
    mutating func chance(_ n: Int) -> Bool { Int.random(in: 0..<n, using: &random) == 0 }

    mutating func operand(_ name: String, _ value: inout Int) { value = Int.random(in: 0...registers, using: &random) }
    mutating func operands(_ name: String, _ value: inout [Int]) {
        value = (0..<Int.random(in: 0...3, using: &random)).map { _ in Int.random(in: 0...registers, using: &random) }
    }
    mutating func weight(_ name: String, _ value: inout Int) { value = Int.random(in: 0...weights, using: &random) }
    mutating func optionalWeight(_ name: String, _ value: inout Int?) {
        value = chance(3) ? nil : Int.random(in: 0...weights, using: &random)
    }
    mutating func integer(_ name: String, _ value: inout Int, _ range: ClosedRange<Int>) {
        // Comparison.visit derives the `dropped` range from `bits`: keep bits in range.
        let edges = [range.lowerBound, range.upperBound, range.lowerBound + 1, range.upperBound - 1, 0, 1, 2, 3]
        if name != "bits" && chance(8) {
            value = chance(2) ? range.lowerBound &- 1 : range.upperBound &+ 1
        } else if chance(2) {
            value = min(max(pick(edges), range.lowerBound), range.upperBound)
        } else {
            value = Int.random(in: range.lowerBound...min(range.upperBound, range.lowerBound + 8), using: &random)
        }
    }
    mutating func integers(_ name: String, _ value: inout [Int], count: ClosedRange<Int>, _ range: ClosedRange<Int>) {
        let length = chance(6) ? Int.random(in: 0...(count.upperBound + 1), using: &random) : Int.random(in: count, using: &random)
        var values: [Int] = []
        for _ in 0..<length {
            var element = 0
            integer(name, &element, range)
            values.append(element)
        }
        value = values
    }
    mutating func blocks(_ name: String, _ value: inout [BlockSize]) {
        let shapes = [BlockSize(1, 1), BlockSize(2, 2), BlockSize(3, 1), BlockSize(9, 9), .identity, .zero, BlockSize(1 << 30, 1), BlockSize(0, 0)]
        value = (0..<Int.random(in: 0...5, using: &random)).map { _ in shapes[Int.random(in: 0..<(chance(10) ? shapes.count : shapes.count - 1), using: &random)] }
    }
    mutating func taps(_ name: String, _ value: inout [ResizeTap]) {
        value = (0..<Int.random(in: 0...6, using: &random)).map { _ in
            ResizeTap(index0: Int.random(in: 0...5, using: &random), index1: Int.random(in: 0...5, using: &random), weight: pick([0, 1, 2, 16, 1 << 15, (1 << 15) + 1]))
        }
    }
}

extension FuzzTests {
    /// Structure-aware mutations: one instruction's fields, shape or domain, a weight's
    /// shape or the outputs, re-randomized; the result is encoded (with a valid hash) and
    /// decoded, which reaches the verifier far more often than byte edits. (Stored costs
    /// stay those of the base program: CostModel.annotate assumes a verified program.)
    @Test func mutatedFieldsNeverTrap() {
        var random = SeededGenerator(state: getenvString("BYTECODE_FUZZ_SEED").flatMap { UInt64($0) } ?? 0xF1E1D)
        let dims = [0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 36, 1 << 15, 1 << 30]
        let bases = [Fixtures.everyOpcode(), Fixtures.small()]
        var decoded = 0
        let cases = getenvString("BYTECODE_FUZZ_CASES").flatMap { Int($0) } ?? 6000
        for index in 0..<cases {
            var program = bases[index % bases.count]
            for _ in 0..<Int.random(in: 1...2, using: &random) {
                let target = Int.random(in: program.instructions.indices, using: &random)
                switch Int.random(in: 0..<6, using: &random) {
                case 0, 1, 2:
                    var mutator = FieldMutator(random: random, registers: target, weights: program.weights.count)
                    var fields = program.instructions[target].operation.definition
                    try? fields.visit(&mutator)
                    random = mutator.random
                    program.instructions[target].operation = fields.operation
                case 3:
                    var shape = program.instructions[target].shape
                    if shape.isEmpty || Bool.random(using: &random) {
                        shape = (0..<Int.random(in: 0...5, using: &random)).map { _ in dims.randomElement(using: &random)! }
                    } else {
                        shape[Int.random(in: shape.indices, using: &random)] = dims.randomElement(using: &random)!
                    }
                    program.instructions[target].shape = shape
                case 4:
                    program.instructions[target].domain = program.instructions[target].domain == .shared ? .revealed : .shared
                default:
                    if !program.weights.isEmpty {
                        let weight = Int.random(in: program.weights.indices, using: &random)
                        program.weights[weight].shape = (0..<Int.random(in: 0...4, using: &random)).map { _ in dims.randomElement(using: &random)! }
                    } else {
                        program.outputs = [Int.random(in: 0..<program.instructions.count, using: &random)]
                    }
                }
            }
            if exercise(program.encoded()) != nil { decoded += 1 }
        }
        #expect(decoded > cases / 100 && decoded < cases)
        if getenvString("BYTECODE_FUZZ_CASES") != nil { print("field fuzz: \(cases) cases, \(decoded) decoded") }
    }
}
