import Bytecode

/// Runs a program in plaintext fixed point with exactly the arithmetic the parties use
/// (the interpreter the parties run, with plaintext in place of shares: the same ring
/// kernels, multipliers, DReLU windows and max-pool tree), without secret sharing: the
/// oracle of the three-party tests. Truncation here rounds to nearest, as the parties'
/// exact truncation does; their stochastic one rounds down or up with expected value
/// x / 2^b, so it differs by one unit at most.
public struct Emulator: Sendable {
    public let program: Program
    let weights: [[UInt64]]
    let interpreter: Interpreter

    public init(program: Program, weights: WeightFile) {
        self.program = program
        self.weights = weights.tensors.map { $0.map { UInt64(bitPattern: $0) } }
        self.interpreter = Interpreter(program)
    }

    /// One inference: `input` holds the input register's elements; returns each output.
    public func run(_ input: [Float]) -> [[Float]] {
        let evaluator = PlaintextEvaluator(program: program, weights: weights, input: input)
        do {
            return try interpreter.run(evaluator)!
        } catch {
            preconditionFailure("plaintext evaluation does not fail: \(error)")
        }
    }
}

/// The emulator's evaluator: values are plaintext, protocols compute their definitions.
final class PlaintextEvaluator: Evaluator {
    let program: Program
    let weights: [[UInt64]]
    let input: [Float]

    init(program: Program, weights: [[UInt64]], input: [Float]) {
        self.program = program
        self.weights = weights
        self.input = input
    }

    var holder: Holder? { .plaintext }
    var computesRevealed: Bool { true }

    func weightTensor(_ index: Int) -> RingTensor { RingTensor(shape: program.weights[index].shape, values: weights[index]) }

    func shareInput(shape: [Int]) -> RingTensor? {
        RingTensor(shape: shape, values: FixedPoint.encode(FixedPoint.clamped(input, to: program.inputRange).values, fracBits: program.fracBits))
    }

    func shareConstant(_ weight: Int, shape: [Int]) -> RingTensor? { weightTensor(weight) }

    func reveal(_ x: RingTensor?, ring: Ring) -> [Float]? { FixedPoint.decode(x!.values, fracBits: program.fracBits) }

    func linear(_ instruction: Instruction, x: Int, _ share: RingTensor?, weight: Int, bias: Int?,
                apply: (RingTensor, [UInt64], [UInt64]?) -> RingTensor) -> RingTensor? {
        apply(share!, weights[weight], bias.map { weights[$0] })
    }

    func multiply(_ instruction: Instruction, a: Int, _ aShare: RingTensor?, b: Int, _ bShare: RingTensor?) -> RingTensor? {
        RingKernels.broadcast(aShare!, bShare!, shape: instruction.shape, &*)
    }

    func truncate(_ x: RingTensor?, _ op: Trunc, shape: [Int], from: Ring, to: Ring) -> RingTensor? {
        RingKernels.map(x!) { FixedPoint.truncate($0, op.bits) }
    }

    func splitPublic(_ value: UInt64, count: Int) -> [UInt64] { [UInt64](repeating: value, count: count) }

    func signAndSelect(values: [UInt64]?, pixels: [UInt64]?, owner: [Int32], valueCount: Int, comparison: Comparison, ring: Ring) -> [UInt64]? {
        let signs = values!.map { FixedPoint.isPositive($0, comparison) }
        let pixels = pixels!
        return pixels.indices.map { signs[Int(owner[$0])] ? pixels[$0] : 0 }
    }

    func willRun(_ index: Int) {}
    func didRun(_ index: Int) {}
}
