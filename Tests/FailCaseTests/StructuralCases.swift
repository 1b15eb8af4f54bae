import Bytecode

/// Programs with a valid hash whose contents the parser or verifier must refuse:
/// `encoded()` does not validate, so these reach the deeper checks.
enum StructuralCases {
    /// `program()` after `edit`, encoded.
    static func variant(_ edit: (inout Program) -> Void) -> [UInt8] {
        var program = BytecodeCases.program()
        edit(&program)
        return program.encoded()
    }

    /// The input [1,2,4,4] followed by `body` and a reveal of its last register.
    static func chain(_ body: [Instruction], inputShape: [Int] = [1, 2, 4, 4]) -> [UInt8] {
        var program = Program(fracBits: 12)
        program.instructions = [Instruction(Input(), shape: inputShape, source: "x")] + body
        let last = program.instructions.count - 1
        program.instructions.append(Instruction(Reveal(last), shape: program.instructions[last].shape, domain: .revealed, source: "out"))
        program.outputs = [last + 1]
        return program.encoded()
    }

    static func all() -> [FailCase] {
        var bigWeight = BytecodeCases.program()
        bigWeight.weights[0].shape = [1 << 16, 1 << 16]
        var zeroStride = Conv()
        (zeroStride.weight, zeroStride.bias, zeroStride.strides) = (0, 1, [0, 1])
        return [
            ("program-operand-not-earlier.mpcb", variant { $0.instructions[2].operation = Reveal(2).operation }),
            ("program-operand-far-ahead.mpcb", variant { $0.instructions[2].operation = Reveal(7).operation }),
            ("program-weight-missing.mpcb", variant { $0.weights.removeLast() }),
            ("program-output-out-of-range.mpcb", variant { $0.outputs = [3] }),
            ("program-too-many-outputs.mpcb", variant { $0.outputs = [2, 2, 2, 2] }),
            ("program-no-outputs.mpcb", variant { $0.outputs = [] }),
            ("program-output-not-revealed.mpcb", variant { $0.outputs = [1] }),
            ("program-no-instructions.mpcb", Program(fracBits: 8).encoded()),
            ("program-rank-9.mpcb", variant { $0.instructions[0].shape = Array(repeating: 1, count: 9) }),
            ("program-too-many-elements.mpcb", variant { $0.instructions[0].shape = [1 << 15, 1 << 15, 2] }),
            ("program-dimension-too-large.mpcb", variant { $0.instructions[0].shape = [(1 << 30) + 1] }),
            ("program-weight-too-large.mpcb", bigWeight.encoded()),
            ("program-weight-63-fractional-bits.mpcb", variant { $0.weights[0].fracBits = 63 }),
            ("program-source-name-too-long.mpcb", variant { $0.instructions[1].source = String(repeating: "x", count: 5000) }),
            ("program-conv-stride-0.mpcb", variant { $0.instructions[1].operation = zeroStride.operation }),
            ("program-huge-stored-costs.mpcb", hugeStoredCosts()),
            ("program-max-pool-huge-window.mpcb", maxPoolWithAHugeWindow()),
            ("program-concat-count-beyond-the-file.mpcb", concatCountBeyondTheFile()),
        ]
    }

    /// Each cost within its bound, but their sum over 20 instructions overflowed
    /// `totalCost` before the decoder bounded the running total.
    static func hugeStoredCosts() -> [UInt8] {
        let limit = Int(Int64.max / 16)
        var cost = Cost()
        (cost.drelus, cost.rounds) = (limit, limit)
        let bytes = RoleBytes(client: limit, server: limit, helper: limit)
        (cost.online, cost.offline, cost.session) = (bytes, bytes, bytes)
        return chain((0..<20).map { index in
            var negation = Neg()
            negation.x = index
            return Instruction(negation, shape: [1, 2, 4, 4], source: "n", cost: cost)
        })
    }

    /// A window up to 2^16 x 2^16 times 2^30 outputs overflowed the cost model's byte
    /// counts before the verifier bounded a max pool's comparisons.
    static func maxPoolWithAHugeWindow() -> [UInt8] {
        var pool = MaxPool()
        (pool.window.kernel, pool.window.strides, pool.window.pads) = ([65536, 65536], [65536, 65536], [65535, 65535, 65535, 65535])
        return chain([Instruction(pool, shape: [1, 1 << 30, 1, 1], source: "p")], inputShape: [1, 1 << 30, 1, 1])
    }

    /// A concat whose operand count (2^40) exceeds the bytes left: refused before allocating.
    static func concatCountBeyondTheFile() -> [UInt8] {
        var concat = Concat()
        (concat.xs, concat.axis) = ([0, 0, 0], 1)
        let bytes = chain([Instruction(concat, shape: [1, 6, 4, 4], source: "c")])
        concat.xs = []
        let empty = chain([Instruction(concat, shape: [1, 6, 4, 4], source: "c")])
        // The count is the first body byte where the two encodings differ.
        let start = BytecodeCases.header + zip(empty.dropFirst(BytecodeCases.header), bytes.dropFirst(BytecodeCases.header)).prefix { $0 == $1 }.count
        precondition(bytes[start] == 3)
        return BytecodeCases.rehashed(BytecodeCases.edited(bytes) { $0.replaceSubrange(start..<(start + 1), with: varint(1 << 40)) })
    }
}
