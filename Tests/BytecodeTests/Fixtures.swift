import SharedKernels
import Crypto
import Testing

@testable import Bytecode

// Hand-built programs for the format tests, and helpers that edit encoded bytes.

/// An operation with its fields set by `body`.
func make<T: InstructionDefinition>(_ type: T.Type, _ body: (inout T) -> Void) -> T {
    var operation = T()
    body(&operation)
    return operation
}

func makeWindow(kernel: [Int], strides: [Int], pads: [Int], dilations: [Int], ceil: Bool) -> Window {
    var window = Window()
    window.kernel = kernel
    window.strides = strides
    window.pads = pads
    window.dilations = dilations
    window.ceilMode = ceil
    return window
}

extension Operation {
    /// The fields when the operation is a `T` (tests read decoded fields back).
    func fields<T: InstructionDefinition>(_: T.Type) -> T? { definition as? T }
}

enum Fixtures {
    /// A valid program that uses every opcode, each with non-default attributes where it
    /// has any; costs are annotated so they round-trip too.
    static func everyOpcode() -> Program {
        var program = Program(fracBits: 12, approxDReLUBits: 16)
        program.weights = [
            WeightInfo(name: "conv1.weight", shape: [6, 2, 3, 3], fracBits: 12),  // #0
            WeightInfo(name: "conv1.bias", shape: [6], fracBits: 24),  // #1
            WeightInfo(name: "fc.weight", shape: [10, 36], fracBits: 12),  // #2
            WeightInfo(name: "fc.bias", shape: [10], fracBits: 24),  // #3
            WeightInfo(name: "bn.scale", shape: [1, 6, 1, 1], fracBits: 12),  // #4
            WeightInfo(name: "bn.shift", shape: [6, 1, 1], fracBits: 24),  // #5
            WeightInfo(name: "proj.weight", shape: [4, 4, 1, 1], fracBits: 12),  // #6
            WeightInfo(name: "anchors", shape: [2, 3], fracBits: 12),  // #7
        ]
        var i: [Instruction] = []
        i.append(Instruction(Input(), shape: [1, 4, 8, 8], source: "input"))  // %0
        i.append(Instruction(make(Conv.self) {
            $0.x = 0; $0.weight = 0; $0.bias = 1
            $0.strides = [2, 1]; $0.pads = [1, 2, 1, 0]; $0.dilations = [1, 2]; $0.group = 2
        }, shape: [1, 6, 4, 6], source: "conv1"))  // %1
        i.append(Instruction(make(Trunc.self) { $0.x = 1; $0.bits = 12 }, shape: [1, 6, 4, 6], source: "conv1"))  // %2
        i.append(Instruction(make(Conv.self) {
            $0.x = 0; $0.weight = 6; $0.bias = nil; $0.strides = [2, 2]
        }, shape: [1, 4, 4, 4], source: "proj"))  // %3
        i.append(Instruction(make(Scale.self) { $0.x = 2; $0.weight = 4 }, shape: [1, 6, 4, 6], source: "bn"))  // %4
        i.append(Instruction(make(AddWeight.self) { $0.x = 4; $0.weight = 5 }, shape: [1, 6, 4, 6], source: "bn"))  // %5
        i.append(Instruction(make(ReLU.self) { $0.x = 5; $0.comparison = Comparison(bits: 16, dropped: 8) }, shape: [1, 6, 4, 6], source: "relu1"))  // %6
        i.append(Instruction(make(BlockReLU.self) {
            $0.x = 5
            $0.blocks = [BlockSize(2, 2), .identity, .zero, BlockSize(1, 1), BlockSize(2, 3), BlockSize(2, 2)]
            $0.comparison = Comparison(bits: 24, dropped: 3)
        }, shape: [1, 6, 4, 6], source: "block_relu1"))  // %7
        i.append(Instruction(make(Mul.self) { $0.a = 6; $0.b = 7 }, shape: [1, 6, 4, 6], source: "mul"))  // %8
        i.append(Instruction(make(Add.self) { $0.a = 8; $0.b = 6 }, shape: [1, 6, 4, 6], source: "add"))  // %9
        i.append(Instruction(make(Sub.self) { $0.a = 9; $0.b = 7 }, shape: [1, 6, 4, 6], source: "sub"))  // %10
        i.append(Instruction(make(Neg.self) { $0.x = 10 }, shape: [1, 6, 4, 6], source: "neg"))  // %11
        i.append(Instruction(make(AddPublic.self) { $0.x = 11; $0.value = -12345 }, shape: [1, 6, 4, 6], source: "add_const"))  // %12
        i.append(Instruction(make(MaxPool.self) {
            $0.x = 12
            $0.window = makeWindow(kernel: [2, 3], strides: [2, 2], pads: [0, 1, 1, 0], dilations: [1, 1], ceil: true)
            $0.comparison = Comparison(bits: 20, dropped: 4)
        }, shape: [1, 6, 2, 3], source: "maxpool"))  // %13
        i.append(Instruction(make(AvgPool.self) {
            $0.x = 12
            $0.window = makeWindow(kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [2, 1], ceil: false)
            $0.countIncludePad = true
            $0.shift = 14
        }, shape: [1, 6, 2, 6], source: "avgpool"))  // %14
        i.append(Instruction(make(GlobalAvgPool.self) { $0.x = 14; $0.shift = 10 }, shape: [1, 6, 1, 1], source: "gap"))  // %15
        i.append(Instruction(Reshape(13), shape: [1, 36], source: "flatten"))  // %16
        i.append(Instruction(make(Transpose.self) { $0.x = 13; $0.perm = [0, 2, 3, 1] }, shape: [1, 2, 3, 6], source: "transpose"))  // %17
        i.append(Instruction(make(Slice.self) {
            $0.x = 17; $0.starts = [0, 1, 2, 0]; $0.steps = [1, -1, -2, 3]
        }, shape: [1, 2, 2, 2], source: "slice"))  // %18
        i.append(Instruction(make(Concat.self) { $0.xs = [16, 16, 16]; $0.axis = 1 }, shape: [1, 108], source: "concat"))  // %19
        i.append(Instruction(make(Pad.self) {
            $0.x = 18; $0.pads = [0, 1, 0, 2, 0, 0, 3, 1]; $0.value = 7
        }, shape: [1, 3, 5, 5], source: "pad"))  // %20
        i.append(Instruction(make(Resize.self) {
            $0.x = 3; $0.shift = 4
            $0.rows = [ResizeTap(index0: 0, index1: 1, weight: 5), ResizeTap(index0: 1, index1: 2, weight: 16), ResizeTap(index0: 3, index1: 3, weight: 0)]
            $0.columns = (0..<5).map { ResizeTap(index0: $0 * 3 / 5, index1: min($0 * 3 / 5 + 1, 3), weight: $0 * 3) }
        }, shape: [1, 4, 3, 5], source: "upsample"))  // %21
        i.append(Instruction(make(Dense.self) { $0.x = 16; $0.weight = 2; $0.bias = 3 }, shape: [1, 10], source: "fc"))  // %22
        i.append(Instruction(Reveal(22), shape: [1, 10], domain: .revealed, source: "fc"))  // %23
        i.append(Instruction(make(Softmax.self) { $0.x = 23; $0.axis = 1 }, shape: [1, 10], domain: .revealed, source: "softmax"))  // %24
        i.append(Instruction(make(ArgMax.self) {
            $0.x = 22; $0.axis = 1; $0.keepDims = false; $0.selectLastIndex = true; $0.comparison = Comparison(bits: 24, dropped: 4)
        }, shape: [1], source: "argmax"))  // %25
        i.append(Instruction(Reveal(21), shape: [1, 4, 3, 5], domain: .revealed, source: "upsample"))  // %26
        i.append(Instruction(make(Resize.self) {
            $0.x = 26; $0.shift = 0
            $0.rows = (0..<6).map { ResizeTap(index0: $0 / 2, index1: $0 / 2, weight: $0 % 2) }
            $0.columns = [ResizeTap(index0: 0, index1: 4, weight: 1), ResizeTap(index0: 4, index1: 0, weight: 0)]
        }, shape: [1, 4, 6, 2], domain: .revealed, source: "client_resize"))  // %27
        i.append(Instruction(make(Constant.self) { $0.weight = 7 }, shape: [2, 3], source: "anchors"))  // %28
        i.append(Instruction(Reveal(28), shape: [2, 3], domain: .revealed, source: "anchors"))  // %29
        // Data movement in the client epilogue: the result follows the operand's domain.
        i.append(Instruction(Reshape(27), shape: [4, 12], domain: .revealed, source: "client_reshape"))  // %30
        i.append(Instruction(make(Transpose.self) { $0.x = 30; $0.perm = [1, 0] }, shape: [12, 4], domain: .revealed, source: "client_transpose"))  // %31
        i.append(Instruction(make(Slice.self) { $0.x = 31; $0.starts = [11, 1]; $0.steps = [-2, 2] }, shape: [6, 2], domain: .revealed, source: "client_slice"))  // %32
        // Z_2^32: narrowed, a ReLU on the narrow ring's exact window, widened back.
        i.append(Instruction(Narrow(3), shape: [1, 4, 4, 4], domain: .shared32, source: "narrow"))  // %33
        i.append(Instruction(ReLU(33, comparison: .exact(in: .z32)), shape: [1, 4, 4, 4], domain: .shared32, source: "narrow_relu"))  // %34
        i.append(Instruction(Trunc(34, bits: 0), shape: [1, 4, 4, 4], source: "widen"))  // %35
        i.append(Instruction(Reveal(25), shape: [1], domain: .revealed, source: "argmax"))  // %36
        program.instructions = i
        program.outputs = [24, 36, 27, 23, 29, 32]
        CostModel.annotate(&program)
        return program
    }

    /// input [1,2,4,4] -> conv 3x3 pad 1 with bias -> reveal.
    static func small() -> Program {
        var program = Program(fracBits: 8)
        program.weights = [
            WeightInfo(name: "w", shape: [3, 2, 3, 3], fracBits: 8),
            WeightInfo(name: "b", shape: [3], fracBits: 16),
        ]
        program.instructions = [
            Instruction(Input(), shape: [1, 2, 4, 4], source: "x"),
            Instruction(make(Conv.self) { $0.weight = 0; $0.bias = 1; $0.pads = [1, 1, 1, 1] }, shape: [1, 3, 4, 4], source: "conv"),
            Instruction(Reveal(1), shape: [1, 3, 4, 4], domain: .revealed, source: "out"),
        ]
        program.outputs = [2]
        CostModel.annotate(&program)
        return program
    }

    /// A shared-domain chain ending in a reveal: input [1,2,4,4] followed by `body`
    /// (instructions from %1 on) and a reveal of the last register.
    static func chain(_ body: [Instruction], weights: [WeightInfo] = [], inputShape: [Int] = [1, 2, 4, 4]) -> Program {
        var program = Program(fracBits: 12, weights: weights)
        program.instructions = [Instruction(Input(), shape: inputShape, source: "x")] + body
        let last = program.instructions.count - 1
        program.instructions.append(Instruction(Reveal(last), shape: program.instructions[last].shape, domain: .revealed, source: "out"))
        program.outputs = [last + 1]
        return program
    }
}

// MARK: - Byte editing

enum Bytes {
    static let header = 48

    /// Recomputes the body length and the SHA-256 in the header after an edit, so the
    /// parser sees the edited body.
    static func rehashed(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= header else { return bytes }
        var result = bytes
        let length = UInt32(truncatingIfNeeded: bytes.count - header)
        for k in 0..<4 { result[44 + k] = UInt8((length >> UInt32(8 * k)) & 0xFF) }
        var hasher = SHA256()
        hasher.update(data: Array(result[0..<12]))
        hasher.update(data: Array(result[header...]))
        result.replaceSubrange(12..<44, with: Array(hasher.finalize()))
        return result
    }

    /// Recomputes the body digest and length of a weights file after an edit.
    static func rehashedWeights(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 80 else { return bytes }
        var result = bytes
        result.replaceSubrange(40..<72, with: Array(SHA256.hash(data: Array(bytes[80...]))))
        let length = UInt64(bytes.count - 80)
        for k in 0..<8 { result[72 + k] = UInt8((length >> UInt64(8 * k)) & 0xFF) }
        return result
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var writer = ByteWriter()
        writer.varint(value)
        return writer.bytes
    }
}

// MARK: - Expectations

/// The BytecodeError decoding `bytes` throws, recording an issue when it decodes or
/// throws anything else.
@discardableResult
func decodingError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> BytecodeError? {
    do {
        _ = try Program(decoding: bytes)
        Issue.record("decoding succeeded", sourceLocation: sourceLocation)
    } catch let error as BytecodeError {
        return error
    } catch {
        Issue.record("unexpected error type \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Encodes `program` (no validation) and expects decoding to reject it with a message
/// that contains every one of `fragments`.
func expectRejected(_ program: Program, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error = decodingError(program.encoded(), sourceLocation: sourceLocation) else { return }
    for fragment in fragments {
        #expect(error.message.contains(fragment), "message \"\(error.message)\" lacks \"\(fragment)\"", sourceLocation: sourceLocation)
    }
}

/// Decodes untrusted bytes: nil for a BytecodeError; a decoded program must re-encode to
/// bytes that decode to the same encoding, disassemble and cost without trapping.
func exercise(_ bytes: [UInt8]) -> Program? {
    let program: Program
    do {
        program = try Program(decoding: bytes)
    } catch is BytecodeError {
        return nil
    } catch {
        Issue.record("unexpected error type \(type(of: error)): \(error)")
        return nil
    }
    let encoded = program.encoded()
    do {
        let again = try Program(decoding: encoded)
        #expect(again.encoded() == encoded)
    } catch {
        Issue.record("a decoded program's re-encoding does not decode: \(error)")
    }
    _ = Disassembler.text(program)
    for instruction in program.instructions { _ = CostModel.cost(of: instruction, in: program) }
    _ = program.totalCost
    return program
}
