import SharedKernels
import Testing

@testable import Bytecode

@Suite struct RoundTripTests {
    @Test func everyOpcodeIsCovered() {
        let used = Set(Fixtures.everyOpcode().instructions.map(\.opcode))
        let missing = Opcode.allCases.filter { !used.contains($0) }
        #expect(missing.isEmpty, "opcodes without a round-trip case: \(missing.map(\.mnemonic))")
    }

    @Test func everyOpcodeRoundTrips() throws {
        let program = Fixtures.everyOpcode()
        let bytes = program.encoded()
        let decoded = try Program(decoding: bytes)
        #expect(decoded.encoded() == bytes)
        #expect(decoded.hash == program.hash)
        #expect(decoded.fracBits == 12 && decoded.approxDReLUBits == 16)
        #expect(decoded.outputs == [24, 36, 27, 23, 29, 32])
        #expect(decoded.weights == program.weights)
        #expect(decoded.instructions.count == program.instructions.count)
        for (original, copy) in zip(program.instructions, decoded.instructions) {
            #expect(copy.opcode == original.opcode)
            #expect(copy.shape == original.shape)
            #expect(copy.domain == original.domain)
            #expect(copy.source == original.source)
            #expect(copy.cost == original.cost)
            // Per instruction: the fields survive exactly (printed by the disassembler's visitor).
            #expect(fields(copy) == fields(original), "\(copy.opcode.mnemonic)")
            #expect(copy.tapList == original.tapList)
        }
    }

    @Test func fieldsSurviveDecoding() throws {
        let decoded = try Program(decoding: Fixtures.everyOpcode().encoded())
        let ops = decoded.instructions.map(\.operation)

        let conv = try #require(ops[1].fields(Conv.self))
        #expect(conv.x == 0 && conv.weight == 0 && conv.bias == 1)
        #expect(conv.strides == [2, 1] && conv.pads == [1, 2, 1, 0] && conv.dilations == [1, 2] && conv.group == 2)
        let plainConv = try #require(ops[3].fields(Conv.self))
        #expect(plainConv.bias == nil && plainConv.weight == 6 && plainConv.strides == [2, 2])

        let relu = try #require(ops[6].fields(ReLU.self))
        #expect(relu.comparison == Comparison(bits: 16, dropped: 8) && relu.comparison != .exact)
        let block = try #require(ops[7].fields(BlockReLU.self))
        #expect(block.blocks == [BlockSize(2, 2), .identity, .zero, BlockSize(1, 1), BlockSize(2, 3), BlockSize(2, 2)])
        #expect(block.comparison == Comparison(bits: 24, dropped: 3))

        #expect((ops[12].fields(AddPublic.self))?.value == -12345)
        let maxPool = try #require(ops[13].fields(MaxPool.self))
        #expect(maxPool.window == makeWindow(kernel: [2, 3], strides: [2, 2], pads: [0, 1, 1, 0], dilations: [1, 1], ceil: true))
        #expect(maxPool.comparison.bits == 20 && maxPool.comparison.dropped == 4)
        let avgPool = try #require(ops[14].fields(AvgPool.self))
        #expect(avgPool.countIncludePad && avgPool.shift == 14 && avgPool.window.dilations == [2, 1] && !avgPool.window.ceilMode)
        #expect((ops[15].fields(GlobalAvgPool.self))?.shift == 10)
        #expect((ops[17].fields(Transpose.self))?.perm == [0, 2, 3, 1])
        let slice = try #require(ops[18].fields(Slice.self))
        #expect(slice.starts == [0, 1, 2, 0] && slice.steps == [1, -1, -2, 3])
        let concat = try #require(ops[19].fields(Concat.self))
        #expect(concat.xs == [16, 16, 16] && concat.axis == 1)
        let pad = try #require(ops[20].fields(Pad.self))
        #expect(pad.pads == [0, 1, 0, 2, 0, 0, 3, 1] && pad.value == 7)

        let sharedResize = try #require(ops[21].fields(Resize.self))
        #expect(sharedResize.shift == 4 && sharedResize.rows.count == 3 && sharedResize.columns.count == 5)
        #expect(sharedResize.rows[0] == ResizeTap(index0: 0, index1: 1, weight: 5))
        #expect(decoded.instructions[21].domain == .shared)
        let clientResize = try #require(ops[27].fields(Resize.self))
        #expect(clientResize.x == 26 && clientResize.rows.count == 6 && clientResize.columns[0] == ResizeTap(index0: 0, index1: 4, weight: 1))
        #expect(decoded.instructions[27].domain == .revealed)

        let dense = try #require(ops[22].fields(Dense.self))
        #expect(dense.x == 16 && dense.weight == 2 && dense.bias == 3)
        #expect((ops[24].fields(Softmax.self))?.axis == 1)
        let argMax = try #require(ops[25].fields(ArgMax.self))
        #expect(argMax.axis == 1 && !argMax.keepDims && argMax.selectLastIndex)
        #expect(decoded.instructions[25].shape == [1])

        #expect((ops[28].fields(Constant.self))?.weight == 7)
        #expect(decoded.instructions[28].shape == [2, 3] && decoded.instructions[28].domain == .shared)
        #expect((ops[31].fields(Transpose.self))?.perm == [1, 0] && decoded.instructions[31].domain == .revealed)
        let clientSlice = try #require(ops[32].fields(Slice.self))
        #expect(clientSlice.starts == [11, 1] && clientSlice.steps == [-2, 2] && decoded.instructions[32].domain == .revealed)
    }

    /// Block plans: every mix of patch, id and zero channels, shared shapes written once.
    @Test(arguments: [
        [BlockSize(1, 1)],
        [.identity, .identity, .identity],
        [.zero, .zero, .zero],
        [.identity, .zero, BlockSize(3, 3)],
        [BlockSize(4, 4), BlockSize(2, 4), BlockSize(4, 1), BlockSize(1, 4)],
        [BlockSize(7, 9), .zero, BlockSize(7, 9), .identity],
    ])
    func blockPlansRoundTrip(_ blocks: [BlockSize]) throws {
        let program = Fixtures.chain(
            [Instruction(make(BlockReLU.self) { $0.blocks = blocks; $0.comparison = Comparison(bits: 32, dropped: 16) }, shape: [1, blocks.count, 4, 4], source: "b")],
            inputShape: [1, blocks.count, 4, 4])
        let bytes = program.encoded()
        let decoded = try Program(decoding: bytes)
        #expect(decoded.encoded() == bytes)
        #expect((decoded.instructions[1].operation.fields(BlockReLU.self))?.blocks == blocks)
    }

    @Test func extremeValuesRoundTrip() throws {
        let program = Fixtures.chain([
            Instruction(make(AddPublic.self) { $0.value = Int(Int64.min) }, shape: [2, 3], source: "min"),
            Instruction(make(AddPublic.self) { $0.x = 1; $0.value = Int(Int64.max) }, shape: [2, 3], source: "max"),
            Instruction(make(Trunc.self) { $0.x = 2; $0.bits = 62 }, shape: [2, 3], source: "t"),
            Instruction(make(ReLU.self) { $0.x = 3; $0.comparison = Comparison(bits: 2, dropped: 62) }, shape: [2, 3], source: "r"),
            Instruction(Reshape(4), shape: [6], source: "é名前 with unicode"),
        ], inputShape: [2, 3])
        let decoded = try Program(decoding: program.encoded())
        #expect(decoded.encoded() == program.encoded())
        #expect((decoded.instructions[1].operation.fields(AddPublic.self))?.value == Int(Int64.min))
        #expect((decoded.instructions[2].operation.fields(AddPublic.self))?.value == Int(Int64.max))
        #expect(decoded.instructions[5].source == "é名前 with unicode")
    }

    @Test func hashCoversParametersAndBody() {
        let base = Fixtures.small()
        var other = base
        other.fracBits = 9
        #expect(other.hash != base.hash)
        other = base
        other.instructions[1].source = "renamed"
        #expect(other.hash != base.hash)
        let bytes = base.encoded()
        #expect(Array(bytes[12..<44]) == base.hash)
        #expect(Array(bytes[0..<4]) == Array("MPCB".utf8))
        let length = Int(bytes[44]) | Int(bytes[45]) << 8 | Int(bytes[46]) << 16 | Int(bytes[47]) << 24
        #expect(length == bytes.count - 48)
    }
}

/// The fields of an instruction's operation as the disassembler prints them.
func fields(_ instruction: Instruction) -> [String] {
    var printer = FieldPrinter()
    instruction.operation.visitFields(&printer)
    return printer.parts
}

extension Instruction {
    /// A resize's taps in full (the disassembler only counts them).
    var tapList: [ResizeTap] { (operation.fields(Resize.self)).map { $0.rows + $0.columns } ?? [] }
}
