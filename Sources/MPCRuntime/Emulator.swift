import Bytecode

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
        var lastUse = Array(program.instructions.indices)
        for (index, instruction) in program.instructions.enumerated() {
            for operand in Emulator.operands(of: instruction) { lastUse[operand] = index }
        }
        for output in program.outputs { lastUse[output] = program.instructions.count }
        self.lastUse = lastUse
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
            let shape = instruction.shape
            func x(_ register: Int) -> RingTensor { shared[register]! }
            func weight(_ index: Int) -> [UInt64] { weights[index] }
            func weightTensor(_ index: Int) -> RingTensor { RingTensor(shape: program.weights[index].shape, values: weights[index]) }
            func map(_ register: Int, _ transform: (UInt64) -> UInt64) -> RingTensor {
                RingTensor(shape: shape, values: x(register).values.map(transform))
            }
            switch instruction.operation {
            case is Input:
                shared[index] = RingTensor(shape: shape, values: FixedPoint.encode(input, fracBits: f))
            case let op as Reveal:
                revealed[index] = FixedPoint.decode(x(op.x).values, fracBits: f)
            case let op as Conv:
                shared[index] = RingKernels.conv(x(op.x), op, weight: weight(op.weight), weightShape: program.weights[op.weight].shape, bias: op.bias.map(weight), resultShape: shape)
            case let op as Dense:
                shared[index] = RingKernels.dense(x(op.x), weight: weight(op.weight), weightShape: program.weights[op.weight].shape, bias: op.bias.map(weight), resultShape: shape)
            case let op as Scale:
                shared[index] = RingKernels.broadcast(x(op.x), weightTensor(op.weight), shape: shape, &*)
            case let op as AddWeight:
                shared[index] = RingKernels.broadcast(x(op.x), weightTensor(op.weight), shape: shape, &+)
            case let op as Mul:
                shared[index] = RingKernels.broadcast(x(op.a), x(op.b), shape: shape, &*)
            case let op as Add:
                shared[index] = RingKernels.broadcast(x(op.a), x(op.b), shape: shape, &+)
            case let op as Sub:
                shared[index] = RingKernels.broadcast(x(op.a), x(op.b), shape: shape, &-)
            case let op as Neg:
                shared[index] = map(op.x) { 0 &- $0 }
            case let op as AddPublic:
                let value = UInt64(bitPattern: Int64(op.value))
                shared[index] = map(op.x) { $0 &+ value }
            case let op as Trunc:
                shared[index] = map(op.x) { FixedPoint.truncate($0, op.bits) }
            case let op as ReLU:
                shared[index] = map(op.x) { FixedPoint.isPositive($0, op.comparison) ? $0 : 0 }
            case let op as BlockReLU:
                var out = x(op.x)
                let sums = RingKernels.patchSums(out, blocks: op.blocks)
                RingKernels.forEachPatch(shape, op.blocks) { patch, pixels in
                    if !FixedPoint.isPositive(sums[patch], op.comparison) { for pixel in pixels { out.values[pixel] = 0 } }
                }
                for (channel, block) in op.blocks.enumerated() where block == .zero {
                    let plane = shape[2] * shape[3]
                    for sample in 0..<shape[0] {
                        let start = (sample * shape[1] + channel) * plane
                        for pixel in start..<(start + plane) { out.values[pixel] = 0 }
                    }
                }
                shared[index] = out
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
                shared[index] = level[0]
            case let op as AvgPool:
                shared[index] = RingKernels.avgPool(x(op.x), op, resultShape: shape)
            case let op as GlobalAvgPool:
                shared[index] = RingKernels.globalAvgPool(x(op.x), shift: op.shift, resultShape: shape)
            case let op as Constant:
                shared[index] = weightTensor(op.weight)
            case let op as Reshape:
                if instruction.domain == .revealed { revealed[index] = revealed[op.x] } else { shared[index] = RingTensor(shape: shape, values: x(op.x).values) }
            case let op as Transpose:
                let inputShape = program.instructions[op.x].shape
                if instruction.domain == .revealed {
                    revealed[index] = DataMovement.transpose(revealed[op.x]!, shape: inputShape, perm: op.perm)
                } else {
                    shared[index] = RingTensor(shape: shape, values: DataMovement.transpose(x(op.x).values, shape: inputShape, perm: op.perm))
                }
            case let op as Slice:
                let inputShape = program.instructions[op.x].shape
                if instruction.domain == .revealed {
                    revealed[index] = DataMovement.slice(revealed[op.x]!, shape: inputShape, op, resultShape: shape)
                } else {
                    shared[index] = RingTensor(shape: shape, values: DataMovement.slice(x(op.x).values, shape: inputShape, op, resultShape: shape))
                }
            case let op as Concat:
                shared[index] = RingTensor(shape: shape, values: DataMovement.concat(op.xs.map { (x($0).values, x($0).shape) }, axis: op.axis, resultShape: shape))
            case let op as Pad:
                shared[index] = RingTensor(shape: shape, values: DataMovement.pad(x(op.x).values, shape: x(op.x).shape, pads: op.pads, value: UInt64(bitPattern: Int64(op.value)), resultShape: shape))
            case let op as Resize:
                if instruction.domain == .revealed {
                    revealed[index] = Epilogue.resize(revealed[op.x]!, shape: program.instructions[op.x].shape, op, resultShape: shape)
                } else {
                    shared[index] = RingKernels.resize(x(op.x), op, resultShape: shape)
                }
            case let op as Softmax:
                revealed[index] = Epilogue.softmax(revealed[op.x]!, shape: shape, axis: op.axis)
            case let op as ArgMax:
                revealed[index] = Epilogue.argMax(revealed[op.x]!, shape: program.instructions[op.x].shape, op)
            default:
                preconditionFailure("the verifier admits no other operation")
            }
            for operand in Emulator.operands(of: instruction) where lastUse[operand] == index {
                shared[operand] = nil
                revealed[operand] = nil
            }
        }
        return program.outputs.map { revealed[$0]! }
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
