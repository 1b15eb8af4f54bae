import Bytecode
import SharedKernels

/// Runs a program in plaintext fixed point with exactly the arithmetic the parties use
/// (the same ring kernels, multipliers, DReLU windows and max-pool tree), without
/// secret sharing: the oracle of the three-party tests. Truncation here is exact; the
/// parties' local truncation may differ by one unit in the last place.
public struct Emulator: Sendable {
    public let program: Program
    let weights: [[UInt64]]
    /// The instruction after which each register is no longer read.
    let lastUse: [Int]

    public init(program: Program, weights: WeightFile) {
        self.program = program
        self.weights = weights.tensors.map { $0.map { UInt64(bitPattern: $0) } }
        self.lastUse = Emulator.lastUses(program)
    }

    /// For each register, the last instruction that reads it (outputs: never freed).
    static func lastUses(_ program: Program) -> [Int] {
        var lastUse = Array(program.instructions.indices)
        for (index, instruction) in program.instructions.enumerated() {
            for operand in Emulator.operands(of: instruction) { lastUse[operand] = index }
        }
        for output in program.outputs { lastUse[output] = program.instructions.count }
        return lastUse
    }

    /// Registers an instruction reads.
    public static func operands(of instruction: Instruction) -> [Int] {
        var collector = OperandCollector()
        var operation = instruction.operation
        try? operation.visit(&collector)
        return collector.registers
    }

    /// One inference: `input` holds the input register's elements; returns each output.
    public func run(_ input: [Float]) -> [[Float]] {
        var shared = [RingTensor?](repeating: nil, count: program.instructions.count)
        var revealed = [[Float]?](repeating: nil, count: program.instructions.count)
        let f = program.fracBits
        for (index, instruction) in program.instructions.enumerated() {
            func x(_ register: Int) -> RingTensor { shared[register]! }
            func weight(_ index: Int) -> [UInt64] { weights[index] }
            func weightTensor(_ index: Int) -> RingTensor { RingTensor(shape: program.weights[index].shape, values: weights[index]) }
            if instruction.domain == .revealed {
                revealed[index] = instruction.operation is Reveal
                    ? FixedPoint.decode(x((instruction.operation as! Reveal).x).values, fracBits: f)
                    : Epilogue.apply(instruction, program, operand: { revealed[$0]! })
            } else if let local = LocalOps.apply(instruction, program, holder: .plaintext, operand: x, weight: weightTensor) {
                shared[index] = local
            } else {
                shared[index] = protocolResult(instruction, x: x, weight: weight, weightTensor: weightTensor, input: input)
            }
            for operand in Emulator.operands(of: instruction) where lastUse[operand] == index {
                shared[operand] = nil
                revealed[operand] = nil
            }
        }
        return program.outputs.map { revealed[$0]! }
    }

    /// Plaintext results of the instructions the parties run protocols for.
    private func protocolResult(
        _ instruction: Instruction, x: (Int) -> RingTensor, weight: (Int) -> [UInt64], weightTensor: (Int) -> RingTensor, input: [Float]
    ) -> RingTensor {
        let shape = instruction.shape
        func map(_ register: Int, _ transform: (UInt64) -> UInt64) -> RingTensor {
            RingTensor(shape: shape, values: x(register).values.map(transform))
        }
        switch instruction.operation {
        case is Input:
            return RingTensor(shape: shape, values: FixedPoint.encode(input, fracBits: program.fracBits))
        case let op as Conv:
            return RingKernels.conv(x(op.x), op, weight: weight(op.weight), weightShape: program.weights[op.weight].shape, bias: op.bias.map(weight), resultShape: shape)
        case let op as Dense:
            return RingKernels.dense(x(op.x), weight: weight(op.weight), weightShape: program.weights[op.weight].shape, bias: op.bias.map(weight), resultShape: shape)
        case let op as Scale:
            return RingKernels.broadcast(x(op.x), weightTensor(op.weight), shape: shape, &*)
        case let op as Mul:
            return RingKernels.broadcast(x(op.a), x(op.b), shape: shape, &*)
        case let op as ReLU:
            return map(op.x) { FixedPoint.isPositive($0, op.comparison) ? $0 : 0 }
        case let op as BlockReLU:
            var out = x(op.x)
            let sums = RingKernels.patchSums(out, blocks: op.blocks)
            RingKernels.forEachPatch(shape, op.blocks) { patch, pixels in
                if !FixedPoint.isPositive(sums[patch], op.comparison) { for pixel in pixels { out.values[pixel] = 0 } }
            }
            RingKernels.zeroChannels(&out, blocks: op.blocks)
            return out
        case let op as MaxPool:
            // The parties' tree: adjacent pairs, max(a, b) = b + relu(a - b).
            var level = RingKernels.poolCandidates(x(op.x), op.window, resultShape: shape)
            while level.count > 1 {
                var next: [RingTensor] = []
                for pair in stride(from: 0, to: level.count - 1, by: 2) {
                    let (a, b) = (level[pair], level[pair + 1])
                    next.append(RingTensor(shape: shape, values: zip(a.values, b.values).map { a, b in
                        FixedPoint.isPositive(a &- b, op.comparison) ? a : b
                    }))
                }
                if level.count % 2 == 1 { next.append(level[level.count - 1]) }
                level = next
            }
            return level[0]
        default:
            preconditionFailure("the verifier admits no other operation")
        }
    }
}

/// Collects the registers an operation reads.
struct OperandCollector: FieldVisitor {
    var registers: [Int] = []
    mutating func operand(_ name: String, _ value: inout Int) { registers.append(value) }
    mutating func operands(_ name: String, _ value: inout [Int]) { registers += value }
    mutating func weight(_ name: String, _ value: inout Int) {}
    mutating func optionalWeight(_ name: String, _ value: inout Int?) {}
    mutating func integer(_ name: String, _ value: inout Int, _ range: ClosedRange<Int>) {}
    mutating func integers(_ name: String, _ value: inout [Int], count: ClosedRange<Int>, _ range: ClosedRange<Int>) {}
    mutating func blocks(_ name: String, _ value: inout [BlockShape]) {}
    mutating func taps(_ name: String, _ value: inout [ResizeTap]) {}
}
