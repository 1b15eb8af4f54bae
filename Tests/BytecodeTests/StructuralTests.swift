import SharedKernels
import Testing

@testable import Bytecode

/// Programs with a valid hash but invalid contents: `encoded()` does not validate, so
/// these reach the parser and the verifier.
@Suite struct StructuralTests {
    static let convWeights = [WeightInfo(name: "w", shape: [3, 2, 3, 3], fracBits: 8), WeightInfo(name: "b", shape: [3], fracBits: 16)]

    static func conv(_ body: (inout Conv) -> Void = { _ in }, shape: [Int] = [1, 3, 4, 4]) -> Instruction {
        Instruction(make(Conv.self) { $0.weight = 0; $0.bias = 1; $0.pads = [1, 1, 1, 1]; body(&$0) }, shape: shape, source: "conv")
    }

    @Test func baseProgramsAreValid() throws {
        _ = try Program(decoding: Fixtures.small().encoded())
        _ = try Program(decoding: Fixtures.chain([Self.conv()], weights: Self.convWeights).encoded())
    }

    // MARK: Parser

    @Test func operandsMustNameEarlierRegisters() {
        var program = Fixtures.small()
        program.instructions[2].operation = Reveal(2).operation
        expectRejected(program, "instruction 2", "operand x = %2 is not an earlier register")
        program.instructions[2].operation = Reveal(7).operation
        expectRejected(program, "%7 is not an earlier register")
        let concat = Fixtures.chain([Instruction(Reshape(0), shape: [1, 2, 4, 4], source: "r"), Instruction(make(Concat.self) { $0.xs = [0, 2] }, shape: [2, 2, 4, 4], source: "c")])
        expectRejected(concat, "instruction 2", "operand xs = %2 is not an earlier register")
    }

    @Test func weightsMustExist() {
        var program = Fixtures.small()
        program.instructions[1].operation = make(Conv.self) { $0.weight = 2; $0.pads = [1, 1, 1, 1] }.operation
        expectRejected(program, "instruction 1", "weight w = #2 does not exist")
        program.instructions[1].operation = make(Conv.self) { $0.weight = 0; $0.bias = 2; $0.pads = [1, 1, 1, 1] }.operation
        expectRejected(program, "weight b = #2 does not exist")
        program.weights = []
        program.instructions[1].operation = make(Conv.self) { $0.weight = 0 }.operation
        expectRejected(program, "weight w = #0 does not exist")
    }

    @Test func outputsMustExist() {
        var program = Fixtures.small()
        program.outputs = [3]
        expectRejected(program, "output register 3 exceeds the limit 2")
        program.outputs = [2, 2, 2, 2]
        expectRejected(program, "output count 4 exceeds the limit 3")
    }

    @Test func attributeRanges() {
        let cases: [(Instruction, String)] = [
            (Self.conv { $0.strides = [1, 1, 1] }, "strides count 3 exceeds the limit 2"),
            (Self.conv { $0.strides = [1] }, "strides has 1 values, expected 2...2"),
            (Self.conv { $0.strides = [0, 1] }, "strides = 0 is outside 1...65536"),
            (Self.conv { $0.dilations = [1, 1 << 17] }, "dilations = 131072 is outside 1...65536"),
            (Self.conv { $0.group = 0 }, "group = 0 is outside"),
            (Instruction(make(Trunc.self) { $0.bits = 63 }, shape: [1, 2, 4, 4], source: "t"), "bits = 63 is outside 0...62"),
            (Instruction(make(ReLU.self) { $0.comparison = Comparison(bits: 1, dropped: 0) }, shape: [1, 2, 4, 4], source: "r"), "bits = 1 is outside 2...64"),
            (Instruction(make(ReLU.self) { $0.comparison = Comparison(bits: 60, dropped: 5) }, shape: [1, 2, 4, 4], source: "r"), "dropped = 5 is outside 0...4"),
            (Instruction(make(Transpose.self) { $0.perm = [0, 1, 2, 8] }, shape: [1, 2, 4, 4], source: "t"), "perm = 8 is outside 0...7"),
            (Instruction(make(Softmax.self) { $0.axis = 9 }, shape: [1, 2, 4, 4], domain: .revealed, source: "s"), "axis = 9 is outside 0...7"),
            (Instruction(make(ArgMax.self) { $0.keepDims = true; $0.selectLastIndex = true; $0.axis = 1; $0.comparison = Comparison(bits: 60, dropped: 5) },
                         shape: [1, 1, 4, 4], source: "a"), "dropped = 5 is outside 0...4"),
            (Instruction(make(Resize.self) { $0.shift = 16 }, shape: [1, 2, 0, 0], source: "r"), "shift = 16 is outside 0...15"),
            (Instruction(make(Resize.self) { $0.rows = [ResizeTap(index0: 0, index1: 0, weight: 1 << 16)] }, shape: [1, 2, 1, 0], source: "r"),
             "tap weight 65536 exceeds the limit 32768"),
            (Instruction(make(BlockReLU.self) { $0.blocks = [BlockSize(0, 0), .identity] }, shape: [1, 2, 4, 4], source: "b"),
             "block 0x0 is neither a patch, id nor zero"),
            (Instruction(make(BlockReLU.self) { $0.blocks = [BlockSize(0, 2), .identity] }, shape: [1, 2, 4, 4], source: "b"),
             "block 0x2 is neither a patch, id nor zero"),
        ]
        for (instruction, fragment) in cases {
            expectRejected(Fixtures.chain([instruction], weights: Self.convWeights), fragment)
        }
    }

    @Test func shapesAndNamesAreBounded() {
        var program = Fixtures.small()
        program.instructions[0].shape = Array(repeating: 1, count: 9)
        expectRejected(program, "rank 9 exceeds the limit 8")
        program = Fixtures.small()
        program.instructions[0].shape = [1 << 15, 1 << 15, 2]
        expectRejected(program, "more than 2^30 elements")
        program.instructions[0].shape = [(1 << 30) + 1]
        expectRejected(program, "dimension 1073741825 exceeds the limit")
        program = Fixtures.small()
        program.weights[0].shape = [1 << 16, 1 << 16]
        expectRejected(program, "more than 2^30 elements")
        program = Fixtures.small()
        program.weights[0].fracBits = 63
        expectRejected(program, "weight w has 63 fractional bits")
        program = Fixtures.small()
        program.instructions[1].source = String(repeating: "x", count: 5000)
        expectRejected(program, "string length 5000 exceeds the limit 4096")
    }

    @Test func invalidUTF8Name() {
        // The string table is first in the body: count, then length-prefixed names.
        var bytes = Fixtures.small().encoded()
        #expect(bytes[48] == 5 && bytes[49] == 1 && bytes[50] == UInt8(ascii: "w"))
        bytes[50] = 0xFF
        #expect(decodingError(Bytes.rehashed(bytes))?.message.contains("not valid UTF-8") == true)
    }

    @Test func unknownOpcodeAndDomain() {
        let bytes = Fixtures.small().encoded()
        // Body: strings (count, "w", "b", "x", "conv", "out": 16 bytes), weights (count,
        // "w" rank 4: 7 bytes, "b" rank 1: 4 bytes), then the instruction count.
        let start = 48 + 16 + 12
        #expect(bytes[start] == 3 && bytes[start + 1] == Opcode.input.rawValue && bytes[start + 2] == 0 && bytes[start + 3] == 2)
        let firstUnknown = UInt8(Opcode.allCases.count + 1)
        #expect(Opcode(rawValue: firstUnknown) == nil && Opcode(rawValue: firstUnknown - 1) != nil)
        for code: UInt8 in [0, firstUnknown, 0xFF] {
            var changed = bytes
            changed[start + 1] = code
            #expect(decodingError(Bytes.rehashed(changed))?.message.contains("unknown opcode \(code)") == true)
        }
        var changed = bytes
        for domain: UInt8 in [3, 0xFF] {
            changed[start + 2] = domain
            #expect(decodingError(Bytes.rehashed(changed))?.message.contains("unknown register domain") == true)
        }
    }

    @Test func oversizedCounts() {
        let bytes = Fixtures.small().encoded()
        // A string count larger than the file, a 10-byte varint and an 11-byte one.
        for replacement in [Bytes.varint(1 << 40), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02], [UInt8](repeating: 0xFF, count: 11)] {
            var changed = bytes
            changed.replaceSubrange(48..<49, with: replacement)
            decodingError(Bytes.rehashed(changed))
        }
    }

    // MARK: Verifier

    @Test func inputCount() {
        expectRejected(Program(fracBits: 8), "0 inputs")
        var program = Fixtures.small()
        program.instructions[1] = Instruction(Input(), shape: [1, 3, 4, 4], source: "second")
        expectRejected(program, "2 inputs; it must have exactly one")
        program = Fixtures.small()
        program.instructions[0].domain = .revealed
        expectRejected(program, "instruction %0 (input, from x)", "wrong domain")
    }

    @Test func outputs() {
        var program = Fixtures.small()
        program.outputs = []
        expectRejected(program, "no outputs")
        program.outputs = [1]
        expectRejected(program, "output %1 is not revealed")
        program.outputs = [2, 0]
        expectRejected(program, "output %0 is not revealed")
    }

    @Test func domains() {
        var program = Fixtures.small()
        program.instructions.append(Instruction(Reveal(2), shape: [1, 3, 4, 4], domain: .revealed, source: "again"))
        expectRejected(program, "instruction %3 (reveal, from again)", "operand %2 is not a shared register")
        program = Fixtures.small()
        program.instructions.append(Instruction(make(Softmax.self) { $0.x = 1; $0.axis = 1 }, shape: [1, 3, 4, 4], domain: .revealed, source: "sm"))
        expectRejected(program, "softmax runs on a revealed register")
        program = Fixtures.small()
        program.instructions.append(Instruction(make(Softmax.self) { $0.x = 2; $0.axis = 1 }, shape: [1, 3, 4, 4], domain: .shared, source: "sm"))
        expectRejected(program, "the result is in the wrong domain")
        program = Fixtures.small()
        program.instructions.append(Instruction(make(ArgMax.self) { $0.x = 2 }, shape: [1, 3, 4, 4], source: "am"))
        expectRejected(program, "operand %2 is not a shared register")
        program = Fixtures.small()
        program.instructions[1].domain = .revealed
        expectRejected(program, "instruction %1 (conv, from conv)", "wrong domain")
        program = Fixtures.small()
        program.instructions.append(Instruction(make(Neg.self) { $0.x = 2 }, shape: [1, 3, 4, 4], source: "n"))
        expectRejected(program, "operand %2 is not a shared register")
        program = Fixtures.small()
        program.instructions.append(Instruction(make(Add.self) { $0.a = 1; $0.b = 2 }, shape: [1, 3, 4, 4], source: "a"))
        expectRejected(program, "operand %2 is not a shared register")
        program = Fixtures.small()
        program.instructions.append(Instruction(make(Resize.self) {
            $0.x = 2; $0.rows = Array(repeating: ResizeTap(index0: 0, index1: 0, weight: 0), count: 4)
            $0.columns = Array(repeating: ResizeTap(index0: 0, index1: 0, weight: 0), count: 4)
        }, shape: [1, 3, 4, 4], domain: .shared, source: "rs"))
        expectRejected(program, "instruction %3 (resize, from rs)", "the result must stay in its operand's domain")
        // Data movement follows its operand's domain; pad and concat stay shared.
        for (operation, shape) in [(Reshape(1).operation, [48]), (make(Transpose.self) { $0.x = 1; $0.perm = [0, 1, 2, 3] }.operation, [1, 3, 4, 4])] {
            program = Fixtures.small()
            program.instructions.append(Instruction(operation, shape: shape, domain: .revealed, source: "mv"))
            expectRejected(program, "the result must stay in its operand's domain")
        }
        program = Fixtures.small()
        program.instructions.append(Instruction(make(Pad.self) { $0.x = 2; $0.pads = Array(repeating: 0, count: 8) }, shape: [1, 3, 4, 4], domain: .revealed, source: "p"))
        expectRejected(program, "the result is in the wrong domain")
        program.instructions[3].domain = .shared
        expectRejected(program, "operand %2 is not a shared register")
        program = Fixtures.small()
        program.instructions.append(Instruction(make(Concat.self) { $0.xs = [1, 2] }, shape: [2, 3, 4, 4], source: "c"))
        expectRejected(program, "operand %2 is not a shared register")
    }

    /// Registers in Z_2^32: operands in the result's ring unless the instruction converts;
    /// `narrow` only from Z_2^64; windows and truncations within the ring.
    @Test func rings() {
        let shape = [1, 3, 4, 4]
        func extended(_ extra: [Instruction]) -> Program {
            var program = Fixtures.small()
            program.instructions.insert(contentsOf: extra, at: 2)
            program.instructions[program.instructions.count - 1] = Instruction(Reveal(1), shape: shape, domain: .revealed, source: "out")
            program.outputs = [program.instructions.count - 1]
            return program
        }
        let narrow = Instruction(Narrow(1), shape: shape, domain: .shared32, source: "n")
        #expect(throws: Never.self) { try ProgramVerifier(extended([narrow, Instruction(Trunc(2, bits: 0), shape: shape, source: "w")])).verify() }
        expectRejected(extended([narrow, Instruction(Neg(2), shape: shape, source: "neg")]), "instruction %3 (neg, from neg)", "operand %2 is in another ring than the result")
        expectRejected(extended([narrow, Instruction(Add(1, 2), shape: shape, domain: .shared32, source: "a")]), "operand %1 is in another ring")
        expectRejected(extended([narrow, Instruction(Narrow(2), shape: shape, domain: .shared32, source: "again")]), "narrow takes a Z_2^64 register to Z_2^32")
        expectRejected(extended([Instruction(Narrow(1), shape: shape, source: "n")]), "narrow takes a Z_2^64 register to Z_2^32")
        expectRejected(extended([narrow, Instruction(ReLU(2, comparison: .exact), shape: shape, domain: .shared32, source: "r")]),
                       "the compared window (64 bits from bit 0) exceeds the 32-bit ring")
        expectRejected(extended([narrow, Instruction(ReLU(2, comparison: Comparison(bits: 16, dropped: 17)), shape: shape, domain: .shared32, source: "r")]),
                       "exceeds the 32-bit ring")
        expectRejected(extended([narrow, Instruction(Trunc(2, bits: 31), shape: shape, domain: .shared32, source: "t")]),
                       "trunc drops 31 bits, more than the 32-bit ring's truncation allows")
        expectRejected(extended([narrow, Instruction(Trunc(2, bits: 31, exact: true), shape: shape, source: "t")]),
                       "trunc drops 31 bits")
    }

    @Test func convShapes() {
        let w = Self.convWeights
        expectRejected(Fixtures.chain([Self.conv(shape: [1, 3, 4, 5])], weights: w), "instruction %1 (conv, from conv)", "result shape [1, 3, 4, 5] is not [1, 3, 4, 4]")
        expectRejected(Fixtures.chain([Self.conv({ $0.strides = [2, 2] })], weights: w), "is not [1, 3, 2, 2]")
        expectRejected(Fixtures.chain([Self.conv({ $0.pads = [0, 0, 0, 0]; $0.dilations = [3, 1] })], weights: w), "the window (7) is larger than the padded input (4)")
        expectRejected(Fixtures.chain([Self.conv({ $0.group = 2 })], weights: w), "does not fit input")
        expectRejected(Fixtures.chain([Self.conv()], weights: w, inputShape: [1, 3, 4, 4]), "does not fit input")
        expectRejected(Fixtures.chain([Self.conv()], weights: w, inputShape: [2, 4, 4]), "rank-4")
        var badBias = w
        badBias[1].shape = [4]
        expectRejected(Fixtures.chain([Self.conv()], weights: badBias), "bias shape [4] is not [3]")
    }

    @Test func denseAndWeightBroadcasts() {
        let weights = [WeightInfo(name: "fc", shape: [5, 4], fracBits: 8), WeightInfo(name: "b", shape: [6], fracBits: 16), WeightInfo(name: "s", shape: [3, 1], fracBits: 8)]
        let dense = { (shape: [Int], bias: Int?) in
            Instruction(make(Dense.self) { $0.weight = 0; $0.bias = bias }, shape: shape, source: "fc")
        }
        #expect((try? Program(decoding: Fixtures.chain([dense([1, 2, 4, 5], nil)], weights: weights).encoded())) != nil)
        expectRejected(Fixtures.chain([dense([1, 2, 4, 6], nil)], weights: weights), "is not [1, 2, 4, 5]")
        expectRejected(Fixtures.chain([dense([1, 2, 4, 5], 1)], weights: weights), "bias shape is not [5]")
        expectRejected(Fixtures.chain([dense([2, 5], nil)], weights: weights, inputShape: [2, 3]), "does not fit input")
        expectRejected(Fixtures.chain([Instruction(make(Scale.self) { $0.weight = 2 }, shape: [1, 2, 4, 4], source: "s")], weights: weights), "does not broadcast")
        expectRejected(Fixtures.chain([Instruction(make(AddWeight.self) { $0.weight = 1 }, shape: [1, 2, 4, 4], source: "s")], weights: weights), "does not broadcast")
        expectRejected(Fixtures.chain([Instruction(make(Mul.self) { $0.a = 0; $0.b = 0 }, shape: [1, 2, 4, 5], source: "m")]), "do not broadcast to [1, 2, 4, 5]")
    }

    @Test func blockReLUPlans() {
        let blocks = { (count: Int) in
            Instruction(make(BlockReLU.self) { $0.blocks = Array(repeating: BlockSize(2, 2), count: count) }, shape: [1, 2, 4, 4], source: "b")
        }
        expectRejected(Fixtures.chain([blocks(3)]), "one block per channel")
        expectRejected(Fixtures.chain([blocks(1)]), "one block per channel")
        expectRejected(Fixtures.chain([blocks(0)]), "one block per channel")
        expectRejected(Fixtures.chain([Instruction(make(BlockReLU.self) { $0.blocks = [.identity, .zero] }, shape: [2, 4, 4], source: "b")], inputShape: [2, 4, 4]),
                       "block_relu needs [N, C, H, W]")
        expectRejected(Fixtures.chain([Instruction(make(ReLU.self) { $0.x = 0 }, shape: [1, 2, 4, 3], source: "r")]), "differs from the operand's")
    }

    @Test func pooling() {
        let pool = { (window: Window, shape: [Int]) in
            Instruction(make(MaxPool.self) { $0.window = window }, shape: shape, source: "p")
        }
        let w2 = makeWindow(kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], ceil: false)
        #expect((try? Program(decoding: Fixtures.chain([pool(w2, [1, 2, 2, 2])]).encoded())) != nil)
        expectRejected(Fixtures.chain([pool(w2, [1, 2, 3, 2])]), "result shape [1, 2, 3, 2] is not [1, 2, 2, 2]")
        let padded = makeWindow(kernel: [2, 2], strides: [2, 2], pads: [2, 0, 0, 0], dilations: [1, 1], ceil: false)
        expectRejected(Fixtures.chain([pool(padded, [1, 2, 3, 2])]), "pooling pads must be smaller than the kernel")
        let big = makeWindow(kernel: [5, 5], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], ceil: false)
        expectRejected(Fixtures.chain([pool(big, [1, 2, 1, 1])]), "larger than the padded input")
        expectRejected(Fixtures.chain([pool(w2, [1, 2])], inputShape: [1, 2]), "pooling needs [N, C, H, W]")
        expectRejected(Fixtures.chain([Instruction(make(AvgPool.self) { $0.window = w2 }, shape: [1, 2, 1, 2], source: "p")]), "is not [1, 2, 2, 2]")
        expectRejected(Fixtures.chain([Instruction(make(GlobalAvgPool.self) { $0.shift = 4 }, shape: [1, 2, 1], source: "g")]), "is not the pooled")
        expectRejected(Fixtures.chain([Instruction(make(GlobalAvgPool.self) { $0.shift = 4 }, shape: [1, 2], source: "g")], inputShape: [1, 2]), "is not the pooled")
    }

    @Test func dataMovement() {
        let x = [1, 2, 4, 4]
        expectRejected(Fixtures.chain([Instruction(Reshape(0), shape: [33], source: "r")]), "reshape changes the element count")
        expectRejected(Fixtures.chain([Instruction(make(Transpose.self) { $0.perm = [0, 1, 1, 3] }, shape: x, source: "t")]), "perm [0, 1, 1, 3] is not a permutation of 4 axes")
        expectRejected(Fixtures.chain([Instruction(make(Transpose.self) { $0.perm = [0, 1, 2] }, shape: x, source: "t")]), "is not a permutation")
        expectRejected(Fixtures.chain([Instruction(make(Transpose.self) { $0.perm = [0, 2, 1, 3] }, shape: x, source: "t")]), "is not the transposed")
        let slice = { (starts: [Int], steps: [Int], shape: [Int]) in
            Fixtures.chain([Instruction(make(Slice.self) { $0.starts = starts; $0.steps = steps }, shape: shape, source: "s")])
        }
        #expect((try? Program(decoding: slice([0, 1, 3, 0], [1, 1, -1, 2], [1, 1, 4, 2]).encoded())) != nil)
        expectRejected(slice([0, 1, 3, 0], [1, 1, -1, 2], [1, 1, 4, 3]), "slice reads outside axis 3 of [1, 2, 4, 4]")
        expectRejected(slice([0, 0, 0, 4], [1, 1, 1, 1], [1, 1, 1, 1]), "slice reads outside axis 3")
        expectRejected(slice([0, 0, 2, 0], [1, 1, -1, 1], [1, 1, 4, 1]), "slice reads outside axis 2")
        expectRejected(slice([0, 0, 0, 0], [1, 1, 0, 1], [1, 1, 1, 1]), "a slice step is zero")
        expectRejected(slice([0, 0, 0], [1, 1, 1], [1, 1, 1]), "slice needs a start and step per axis")
        expectRejected(Fixtures.chain([Instruction(make(Concat.self) { $0.xs = [] }, shape: x, source: "c")]), "concat has no operands")
        expectRejected(Fixtures.chain([Instruction(make(Concat.self) { $0.xs = [0]; $0.axis = 4 }, shape: x, source: "c")]), "axis 4 is out of range")
        expectRejected(Fixtures.chain([Instruction(make(Concat.self) { $0.xs = [0]; $0.axis = 1 }, shape: [1, 3, 4, 4], source: "c")]), "is not [1, 2, 4, 4]")
        expectRejected(Fixtures.chain([Instruction(Reshape(0), shape: [1, 2, 16], source: "r"), Instruction(make(Concat.self) { $0.xs = [0, 1]; $0.axis = 1 }, shape: [1, 4, 4, 4], source: "c")]),
                       "concat operands disagree outside axis 1")
        expectRejected(Fixtures.chain([Instruction(make(Pad.self) { $0.pads = [0, 0, 1, 1] }, shape: x, source: "p")]), "pad needs begin and end amounts for every axis")
        expectRejected(Fixtures.chain([Instruction(make(Pad.self) { $0.pads = [0, 0, 1, 1, 0, 0, 0, 0] }, shape: x, source: "p")]), "is not the padded")
    }

    @Test func constants() {
        var program = Fixtures.chain([Instruction(make(Constant.self) { $0.weight = 1 }, shape: [3], source: "k")], weights: Self.convWeights)
        #expect((try? Program(decoding: program.encoded())) != nil)
        program.instructions[1].shape = [1, 3]
        expectRejected(program, "instruction %1 (constant, from k)", "result shape [1, 3] differs from the weight's [3]")
        program.instructions[1].operation = make(Constant.self) { $0.weight = 2 }.operation
        expectRejected(program, "weight w = #2 does not exist")
        program.instructions[1] = Instruction(make(Constant.self) { $0.weight = 1 }, shape: [3], domain: .revealed, source: "k")
        expectRejected(program, "the result is in the wrong domain")
    }

    @Test func resize() {
        let taps = { (count: Int, index: Int, weight: Int) in Array(repeating: ResizeTap(index0: 0, index1: index, weight: weight), count: count) }
        let resize = { (rows: [ResizeTap], columns: [ResizeTap], shift: Int, shape: [Int]) in
            Fixtures.chain([Instruction(make(Resize.self) { $0.rows = rows; $0.columns = columns; $0.shift = shift }, shape: shape, source: "rs")])
        }
        #expect((try? Program(decoding: resize(taps(8, 3, 4), taps(2, 3, 4), 2, [1, 2, 8, 2]).encoded())) != nil)
        expectRejected(resize(taps(8, 4, 4), taps(2, 3, 4), 2, [1, 2, 8, 2]), "a resize tap is out of range")
        expectRejected(resize(taps(8, 3, 4), taps(2, 3, 5), 2, [1, 2, 8, 2]), "a resize tap is out of range")
        expectRejected(resize(taps(8, 3, 4), taps(3, 3, 4), 2, [1, 2, 8, 2]), "resize needs one tap per output row and column")
        expectRejected(resize(taps(8, 3, 4), taps(2, 3, 4), 2, [1, 3, 8, 2]), "resize changes only the last two axes")
        expectRejected(
            Fixtures.chain([Instruction(make(Resize.self) { $0.rows = taps(2, 0, 0) }, shape: [2], source: "rs")], inputShape: [2]),
            "resize changes only the last two axes")
    }

    @Test func epilogue() {
        var program = Fixtures.small()
        program.instructions.append(Instruction(make(Softmax.self) { $0.x = 2; $0.axis = 4 }, shape: [1, 3, 4, 4], domain: .revealed, source: "sm"))
        expectRejected(program, "bad softmax axis or shape")
        program.instructions[3] = Instruction(make(Softmax.self) { $0.x = 2; $0.axis = 1 }, shape: [1, 3, 4], domain: .revealed, source: "sm")
        expectRejected(program, "bad softmax axis or shape")
        program.instructions[3] = Instruction(make(ArgMax.self) { $0.x = 1; $0.axis = 4 }, shape: [1, 3, 4, 4], source: "am")
        expectRejected(program, "argmax axis 4 is out of range")
        program.instructions[3] = Instruction(make(ArgMax.self) { $0.x = 1; $0.axis = 1 }, shape: [1, 4, 4], source: "am")
        expectRejected(program, "result shape [1, 4, 4] is not [1, 1, 4, 4]")
        program.instructions[3] = Instruction(make(ArgMax.self) { $0.x = 1; $0.axis = 1; $0.keepDims = false }, shape: [1, 4, 4], source: "am")
        program.instructions.append(Instruction(Reveal(3), shape: [1, 4, 4], domain: .revealed, source: "am"))
        program.outputs = [4]
        #expect((try? Program(decoding: program.encoded())) != nil)
        let empty = Fixtures.chain([Instruction(make(ArgMax.self) { $0.x = 0; $0.axis = 1 }, shape: [1, 1], source: "am")], inputShape: [1, 0])
        expectRejected(empty, "argmax over an empty axis")
        // The largest index times 2^f must be a positive value of the ring: in Z_2^32 at
        // 12 fractional bits, 2^19 candidates fit and one more does not.
        for (candidates, fits) in [(1 << 19, true), (1 << 19 + 1, false)] {
            let narrow = Instruction(Narrow(0), shape: [1, candidates], domain: .shared32, source: "n")
            let argMax = Instruction(make(ArgMax.self) { $0.x = 1; $0.axis = 1; $0.comparison = .exact(in: .z32) }, shape: [1, 1], domain: .shared32, source: "am")
            let chain = Fixtures.chain([narrow, argMax], inputShape: [1, candidates])
            if fits {
                #expect((try? ProgramVerifier(chain).verify()) != nil)
            } else {
                expectRejected(chain, "argmax over \(candidates) candidates at 12 fractional bits exceeds the 32-bit ring")
            }
        }
    }
}
