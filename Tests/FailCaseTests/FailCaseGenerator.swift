import Bytecode
import Crypto
import NPY
import TestSupport
import Testing

/// Writes Tests/FailCases from the damaged and hostile inputs the decoder tests build
/// inline (Bytecode: Corruption, Regression, Structural, WeightFile; NPY; ONNX
/// robustness). Run once, check, commit the files: the replay test reads only the folder.
/// `MPCC_WRITE_FAIL_CASES=1 swift test --filter FailCaseGenerator` (it overwrites files
/// of the same names and leaves others alone).
@Suite(.enabled(if: getenvString("MPCC_WRITE_FAIL_CASES") != nil)) struct FailCaseGenerator {
    @Test func writeCases() throws {
        let program = BytecodeCases.program()
        writeFile(FailCases.referenceProgram, program.encoded())
        let cases = try BytecodeCases.programs() + BytecodeCases.weights() + NPYCases.all() + ONNXCases.all()
        #expect(Set(cases.map(\.name)).count == cases.count, "two cases share a name")
        for (name, bytes) in cases {
            #expect(bytes.count <= 8192, "\(name) has \(bytes.count) bytes")
            writeFile("\(FailCases.folder)/\(name)", bytes)
        }
        for (name, _) in cases { _ = try FailCases.rejection(of: name) }
    }
}

typealias FailCase = (name: String, bytes: [UInt8])

/// Little-endian bytes of an integer.
func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

/// Bytecode's varint: 7 bits a byte, low bits first.
func varint(_ value: UInt64) -> [UInt8] {
    var bytes: [UInt8] = [], rest = value
    repeat {
        bytes.append(UInt8(rest & 0x7F) | (rest >= 0x80 ? 0x80 : 0))
        rest >>= 7
    } while rest > 0
    return bytes
}

/// Up to `limit` of `candidates` that `rejected` refuses, one per distinct message (digits
/// aside), so a seeded sweep keeps varied cases rather than many of one kind.
func distinctRejections(_ candidates: [[UInt8]], limit: Int, _ rejected: ([UInt8]) -> String?) -> [[UInt8]] {
    var seen: Set<String> = [], kept: [[UInt8]] = []
    for bytes in candidates where kept.count < limit {
        guard let message = rejected(bytes) else { continue }
        if seen.insert(String(message.filter { !$0.isNumber })).inserted { kept.append(bytes) }
    }
    return kept
}

enum BytecodeCases {
    static let header = 48, weightsHeader = 80

    /// input [1,2,4,4] -> conv 3x3 (pad 1, bias) -> reveal: the base of every program case
    /// and the reference program of the weights cases.
    static func program() -> Program {
        var conv = Conv()
        (conv.weight, conv.bias, conv.pads) = (0, 1, [1, 1, 1, 1])
        let weights = [WeightInfo(name: "w", shape: [3, 2, 3, 3], fracBits: 8), WeightInfo(name: "b", shape: [3], fracBits: 16)]
        var program = Program(fracBits: 8, weights: weights, outputs: [2])
        let mapShape = [1, 3, 4, 4]
        program.instructions = [Instruction(Input(), shape: [1, 2, 4, 4], source: "x"), Instruction(conv, shape: mapShape, source: "conv")]
        program.instructions.append(Instruction(Reveal(1), shape: mapShape, domain: .revealed, source: "out"))
        for index in program.instructions.indices {
            program.instructions[index].cost = CostModel.cost(of: program.instructions[index], in: program)
        }
        return program
    }

    /// The program's weights: 1-byte and 4-byte tensors.
    static func weightFile(for program: Program) -> WeightFile {
        WeightFile(programHash: program.hash, tensors: [(0..<54).map { Int64($0 * 4 - 100) }, [40_000, -3, 7]])
    }

    /// `bytes` with the program header's body length and SHA-256 recomputed, so the
    /// decoder gets past them to the body.
    static func rehashed(_ bytes: [UInt8]) -> [UInt8] {
        var result = bytes
        result.replaceSubrange(44..<header, with: littleEndian(UInt32(bytes.count - header)))
        result.replaceSubrange(12..<44, with: Array(SHA256.hash(data: Array(bytes[0..<12]) + Array(bytes[header...]))))
        return result
    }

    /// The same for a weights file: body digest and 64-bit body length.
    static func rehashedWeights(_ bytes: [UInt8]) -> [UInt8] {
        var result = bytes
        result.replaceSubrange(40..<72, with: Array(SHA256.hash(data: Array(bytes[weightsHeader...]))))
        result.replaceSubrange(72..<weightsHeader, with: littleEndian(UInt64(bytes.count - weightsHeader)))
        return result
    }

    static func edited(_ bytes: [UInt8], _ edit: (inout [UInt8]) -> Void) -> [UInt8] {
        var copy = bytes
        edit(&copy)
        return copy
    }

    static func rejection(_ bytes: [UInt8]) -> String? {
        do {
            _ = try Program(decoding: bytes)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Damage the header's hash or length catches, and header fields checked first.
    static func damagedPrograms() -> [FailCase] {
        let bytes = program().encoded()
        let weights = weightFile(for: program()).encoded()
        var cases: [FailCase] = [
            ("program-empty.mpcb", []), ("program-magic-cut-short.mpcb", Array("MPC".utf8)),
            ("program-bad-magic.mpcb", edited(bytes) { $0[3] = UInt8(ascii: "W") }), ("program-is-a-weights-file.mpcb", weights),
            ("program-version-high-byte-set.mpcb", edited(bytes) { $0[5] = 1 }),
            ("program-truncated-in-header.mpcb", Array(bytes.prefix(20))), ("program-header-only.mpcb", Array(bytes.prefix(header))),
            ("program-truncated-in-body.mpcb", Array(bytes.prefix((bytes.count + header) / 2))),
            ("program-last-byte-missing.mpcb", Array(bytes.dropLast())),
            ("program-hash-byte-flipped.mpcb", edited(bytes) { $0[20] ^= 1 }), ("program-last-byte-flipped.mpcb", edited(bytes) { $0[$0.count - 1] ^= 1 }),
            ("program-reserved-byte-set.mpcb", edited(bytes) { $0[11] = 1 }), ("program-trailing-bytes.mpcb", bytes + [0, 0, 0]),
            ("program-length-field-one-more.mpcb", edited(bytes) { $0[44] &+= 1 }), ("program-length-field-huge.mpcb", edited(bytes) { $0[47] = 0xFF }),
        ]
        for version: UInt8 in [0, 1, 2, 3, 4, 6, 0xFF] {
            cases.append(("program-version-\(version).mpcb", edited(bytes) { $0[4] = version }))
            cases.append(("program-version-\(version)-rehashed.mpcb", rehashed(edited(bytes) { $0[4] = version })))
        }
        return cases
    }

    /// Header parameters and body damage behind a valid hash: the parser must catch them.
    static func rehashedPrograms() -> [FailCase] {
        let bytes = program().encoded()
        let parameters: [(String, Int, UInt8)] = [
            ("unknown-flags", 6, 1), ("ring-not-64-bits", 8, 32), ("frac-bits-0", 9, 0), ("frac-bits-31", 9, 31),
            ("approx-bits-1", 10, 1), ("approx-bits-65", 10, 65),
        ]
        var cases = parameters.map { name, position, value in ("program-\(name).mpcb", rehashed(edited(bytes) { $0[position] = value })) }
        cases.append(("program-trailing-byte-rehashed.mpcb", rehashed(bytes + [0])))
        for length in [header + 1, header + 9, (bytes.count + header) / 2, bytes.count - 1] {
            cases.append(("program-truncated-to-\(length)-rehashed.mpcb", rehashed(Array(bytes.prefix(length)))))
        }
        // A sweep of single-byte changes; one case per kind of error it finds.
        var changes: [[UInt8]] = []
        for position in header..<bytes.count {
            for value: UInt8 in [0, 0x7F, 0xFF] where bytes[position] != value {
                changes.append(rehashed(edited(bytes) { $0[position] = value }))
            }
        }
        for (index, changed) in distinctRejections(changes, limit: 12, rejection).enumerated() {
            cases.append(("program-body-byte-changed-\(index)-rehashed.mpcb", changed))
        }
        return cases
    }

    static func programs() -> [FailCase] {
        damagedPrograms() + rehashedPrograms() + StructuralCases.all()
    }

    static func weights() -> [FailCase] {
        let reference = program()
        let file = weightFile(for: reference)
        let bytes = file.encoded()
        var other = reference
        other.fracBits = 9
        return [
            ("weights-empty.mpcw", []), ("weights-truncated-in-header.mpcw", Array(bytes.prefix(40))),
            ("weights-truncated-in-body.mpcw", Array(bytes.prefix((bytes.count + weightsHeader) / 2))),
            ("weights-last-byte-missing.mpcw", Array(bytes.dropLast())), ("weights-body-byte-flipped.mpcw", edited(bytes) { $0[90] ^= 0x10 }),
            ("weights-bad-magic.mpcw", edited(bytes) { $0[0] = UInt8(ascii: "X") }), ("weights-is-a-program.mpcw", reference.encoded()),
            ("weights-version-2.mpcw", edited(bytes) { $0[4] = 2 }), ("weights-unknown-flags.mpcw", edited(bytes) { $0[6] = 1 }),
            ("weights-extra-byte.mpcw", bytes + [0]),
            ("weights-for-another-program.mpcw", WeightFile(programHash: other.hash, tensors: file.tensors).encoded()),
            ("weights-too-few-tensors.mpcw", WeightFile(programHash: reference.hash, tensors: [file.tensors[0]]).encoded()),
            ("weights-too-many-tensors.mpcw", WeightFile(programHash: reference.hash, tensors: file.tensors + [[1]]).encoded()),
            ("weights-one-value-too-many.mpcw", WeightFile(programHash: reference.hash, tensors: [file.tensors[0], file.tensors[1] + [5]]).encoded()),
            ("weights-width-3-rehashed.mpcw", rehashedWeights(edited(bytes) { $0[weightsHeader + 1] = 3 })),
            ("weights-trailing-bytes-rehashed.mpcw", rehashedWeights(bytes + [0, 0])),
            ("weights-huge-value-count-rehashed.mpcw", rehashedWeights(edited(bytes) { $0.replaceSubrange((weightsHeader + 2)..<(weightsHeader + 3), with: varint(1 << 40)) })),
        ]
    }
}
