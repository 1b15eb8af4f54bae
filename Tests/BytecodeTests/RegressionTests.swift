import Testing

@testable import Bytecode

/// Inputs that trapped (or were wrongly refused) before the fixes listed with each test.
@Suite struct RegressionTests {
    static let costLimit = Int(Int64.max / 16)

    static func costAtLimit() -> Cost {
        var cost = Cost()
        cost.drelus = costLimit
        cost.rounds = costLimit
        let bytes = RoleBytes(client: costLimit, server: costLimit, helper: costLimit)
        (cost.online, cost.offline, cost.session) = (bytes, bytes, bytes)
        return cost
    }

    /// Stored costs are each bounded, but their sum over instructions overflowed in
    /// `totalCost` (the disassembler, `mpcr inspect`, trapped). The decoder now bounds the
    /// running total too.
    @Test func hugeStoredCostsDoNotOverflowTheTotal() {
        var body: [Instruction] = []
        for index in 0..<20 {
            body.append(Instruction(make(Neg.self) { $0.x = index }, shape: [1, 2, 4, 4], source: "n", cost: Self.costAtLimit()))
        }
        let bytes = Fixtures.chain(body).encoded()
        #expect(exercise(bytes) == nil)
        #expect(decodingError(bytes)?.message.contains("the costs of instructions 0...") == true)

        // One instruction at the limit is still a valid program.
        let one = Fixtures.chain([Instruction(make(Neg.self) { $0.x = 0 }, shape: [1, 2, 4, 4], source: "n", cost: Self.costAtLimit())])
        let decoded = exercise(one.encoded())
        #expect(decoded?.totalCost == Self.costAtLimit())
    }

    /// A max pool whose window (up to 2^16 x 2^16 with padding) times its output
    /// elements overflowed the cost model's byte counts; the verifier now bounds the
    /// comparisons a max pool needs.
    @Test func maxPoolWithAHugeWindowIsRefused() {
        let window = makeWindow(kernel: [65536, 65536], strides: [65536, 65536], pads: [65535, 65535, 65535, 65535], dilations: [1, 1], ceil: false)
        let program = Fixtures.chain([Instruction(make(MaxPool.self) { $0.window = window }, shape: [1, 1 << 30, 1, 1], source: "p")], inputShape: [1, 1 << 30, 1, 1])
        #expect(exercise(program.encoded()) == nil)
        #expect(decodingError(program.encoded())?.message.contains("comparisons") == true)
        // A global max pool over a large map is fine.
        let global = makeWindow(kernel: [512, 512], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], ceil: false)
        let fine = Fixtures.chain([Instruction(make(MaxPool.self) { $0.window = global }, shape: [1, 64, 1, 1], source: "p")], inputShape: [1, 64, 512, 512])
        #expect(exercise(fine.encoded()) != nil)
    }

    /// Operand lists were bounded by the number of earlier registers, so a valid concat
    /// of the input with itself right after the input was refused.
    @Test func concatOfOneRegisterTwice() throws {
        let program = Fixtures.chain([Instruction(make(Concat.self) { $0.xs = [0, 0, 0]; $0.axis = 1 }, shape: [1, 6, 4, 4], source: "c")])
        let bytes = program.encoded()
        let decoded = try Program(decoding: bytes)
        #expect(decoded.encoded() == bytes)
        #expect((decoded.instructions[1].operation.fields(Concat.self))?.xs == [0, 0, 0])
        // A count beyond the remaining bytes is still refused before allocating.
        var huge = bytes
        let prefix = Fixtures.chain([Instruction(make(Concat.self) { $0.xs = []; $0.axis = 1 }, shape: [1, 6, 4, 4], source: "c")]).encoded()
        let start = 48 + zip(prefix[48...], bytes[48...]).prefix { $0 == $1 }.count
        #expect(bytes[start] == 3)
        huge.replaceSubrange(start..<(start + 1), with: Bytes.varint(1 << 40))
        #expect(decodingError(Bytes.rehashed(huge)) != nil)
    }
}
