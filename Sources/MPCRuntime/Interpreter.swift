import Bytecode
import SharedKernels

/// Who applies a local rule: the emulator (plaintext values), or the client or the
/// server (its additive share). Public constants are added by the client only, server
/// weights by the server only.
enum Holder {
    case plaintext, client, server
}

/// What differs between the plaintext emulator and a party: how values enter and leave
/// the shared domain and how the interactive protocols run. Everything else (local
/// rules, the epilogue, block ReLU and max pooling on top of sign-and-select) is the
/// interpreter's, so the emulator runs exactly the parties' arithmetic.
protocol Evaluator: AnyObject {
    var program: Program { get }
    /// Whose values local rules apply to; nil for the helper, which holds no shares.
    var holder: Holder? { get }
    /// Whether revealed registers are computed here (the emulator and the client).
    var computesRevealed: Bool { get }
    /// A server weight as this holder adds it (plaintext and server).
    func weightTensor(_ index: Int) -> RingTensor
    func shareInput(shape: [Int]) throws -> RingTensor?
    func shareConstant(_ weight: Int, shape: [Int]) throws -> RingTensor?
    /// `count` copies of a public value as this holder's shares: fresh random ones that
    /// add up to it (the client's -R, the server's value + R), or the value in plaintext.
    func splitPublic(_ value: UInt64, count: Int) -> [UInt64]
    func reveal(_ x: RingTensor?, ring: Ring) throws -> [Float]?
    /// L_W(x) + bias for a layer linear in x and in the server's weight W; `apply`
    /// evaluates the layer on ring tensors.
    func linear(_ instruction: Instruction, x: Int, _ share: RingTensor?, weight: Int, bias: Int?,
                apply: (RingTensor, [UInt64], [UInt64]?) -> RingTensor) throws -> RingTensor?
    /// The elementwise product of two shared registers (broadcast).
    func multiply(_ instruction: Instruction, a: Int, _ aShare: RingTensor?, b: Int, _ bShare: RingTensor?) throws -> RingTensor?
    /// x / 2^bits rounded to nearest (the emulator, and exact parties), or floor(x / 2^bits)
    /// and one more with probability (x mod 2^bits) / 2^bits; x in ring `from`, the
    /// result in ring `to`.
    func truncate(_ x: RingTensor?, _ op: Trunc, shape: [Int], from: Ring, to: Ring) throws -> RingTensor?
    /// For each pixel i, pixels[i] times [values[owner[i]] > 0] under `comparison`, the
    /// pixels in `ring`.
    func signAndSelect(values: [UInt64]?, pixels: [UInt64]?, owner: [Int32], valueCount: Int, comparison: Comparison, ring: Ring) throws -> [UInt64]?
    /// Called around every instruction (the parties measure it).
    func willRun(_ index: Int)
    func didRun(_ index: Int)
}

/// Runs a program for one evaluator: one exhaustive switch over the instruction set.
struct Interpreter {
    let program: Program
    /// For each register, the last instruction that reads it (registers are freed then).
    let lastUse: [Int]

    init(_ program: Program) {
        self.program = program
        var lastUse = Array(program.instructions.indices)
        for (index, instruction) in program.instructions.enumerated() {
            for operand in instruction.operation.operands { lastUse[operand] = index }
        }
        for output in program.outputs { lastUse[output] = program.instructions.count }
        self.lastUse = lastUse
    }

    /// Registers of one inference: shares (or plaintext) and revealed floats.
    struct Registers {
        var shared: [RingTensor?]
        var revealed: [[Float]?]
    }

    /// One inference; the outputs where revealed values are computed, else nil.
    func run<E: Evaluator>(_ evaluator: E) throws -> [[Float]]? {
        let count = program.instructions.count
        var registers = Registers(shared: Array(repeating: nil, count: count), revealed: Array(repeating: nil, count: count))
        for (index, instruction) in program.instructions.enumerated() {
            evaluator.willRun(index)
            try execute(instruction, at: index, &registers, evaluator)
            if let ring = instruction.domain.ring { registers.shared[index]?.canonicalize(ring) }
            for operand in instruction.operation.operands where lastUse[operand] == index {
                registers.shared[operand] = nil
                registers.revealed[operand] = nil
            }
            evaluator.didRun(index)
        }
        return evaluator.computesRevealed ? program.outputs.map { registers.revealed[$0]! } : nil
    }

    private func execute<E: Evaluator>(_ instruction: Instruction, at index: Int, _ r: inout Registers, _ e: E) throws {
        let shape = instruction.shape
        let shares = r.shared
        let ring = instruction.domain.ring ?? .z64
        func local(_ rule: (Holder) -> RingTensor) {
            if let holder = e.holder { r.shared[index] = rule(holder) }
        }
        func epilogue(_ rule: () -> [Float]) {
            if e.computesRevealed { r.revealed[index] = rule() }
        }
        /// Data movement: local on shares, or the epilogue's on revealed floats.
        func movement(_ x: Int, shared: (RingTensor) -> RingTensor, revealed: ([Float]) -> [Float]) {
            if instruction.domain == .revealed {
                epilogue { revealed(r.revealed[x]!) }
            } else {
                local { _ in shared(shares[x]!) }
            }
        }
        switch instruction.operation {
        case .input: r.shared[index] = try e.shareInput(shape: shape)
        case .constant(let op): r.shared[index] = try e.shareConstant(op.weight, shape: shape)
        case .reveal(let op): r.revealed[index] = try e.reveal(shares[op.x], ring: program.instructions[op.x].domain.ring!)
        case .conv, .dense, .scale:
            let layer = linearLayer(instruction)!
            r.shared[index] = try e.linear(instruction, x: layer.x, shares[layer.x], weight: layer.weight, bias: layer.bias, apply: layer.kernel)
        case .mul(let op):
            r.shared[index] = try e.multiply(instruction, a: op.a, shares[op.a], b: op.b, shares[op.b])
        case .relu(let op):
            r.shared[index] = try e.relu(op, x: shares[op.x], shape: shape, ring: ring)
        case .blockReLU(let op):
            r.shared[index] = try e.blockReLU(op, x: shares[op.x], shape: shape, ring: ring)
        case .maxPool(let op):
            r.shared[index] = try e.maxPool(op, x: shares[op.x], shape: shape, ring: ring)
        case .addWeight(let op):
            local { $0 == .client ? shares[op.x]! : RingKernels.broadcast(shares[op.x]!, e.weightTensor(op.weight), shape: shape, &+) }
        case .add(let op):
            local { _ in RingKernels.broadcast(shares[op.a]!, shares[op.b]!, shape: shape, &+) }
        case .sub(let op):
            local { _ in RingKernels.broadcast(shares[op.a]!, shares[op.b]!, shape: shape, &-) }
        case .neg(let op):
            local { _ in RingKernels.map(shares[op.x]!) { 0 &- $0 } }
        case .addPublic(let op):
            let value = UInt64(bitPattern: Int64(op.value))
            local { $0 == .server ? shares[op.x]! : RingKernels.map(shares[op.x]!) { $0 &+ value } }
        case .trunc(let op):
            r.shared[index] = try e.truncate(shares[op.x], op, shape: shape, from: program.instructions[op.x].domain.ring ?? .z64, to: ring)
        case .narrow(let op):
            local { _ in shares[op.x]! }  // made canonical in Z_2^32 by `run`
        case .avgPool(let op):
            local { _ in RingKernels.avgPool(shares[op.x]!, op, resultShape: shape) }
        case .globalAvgPool(let op):
            local { _ in RingKernels.globalAvgPool(shares[op.x]!, shift: op.shift, resultShape: shape) }
        case .concat(let op):
            local { _ in RingTensor(shape: shape, values: DataMovement.concat(op.xs.map { (shares[$0]!.values, shares[$0]!.shape) }, axis: op.axis, resultShape: shape)) }
        case .pad(let op):
            // The padding is split like a constant: fresh shares, not (value, 0).
            local { _ in
                let x = shares[op.x]!
                let border = DataMovement.pad([Bool](repeating: false, count: x.values.count), shape: x.shape, pads: op.pads, value: true, resultShape: shape)
                var split = e.splitPublic(UInt64(bitPattern: Int64(op.value)), count: border.reduce(0) { $0 + ($1 ? 1 : 0) }).makeIterator()
                let padded = DataMovement.pad(x.values, shape: x.shape, pads: op.pads, value: 0, resultShape: shape)
                return RingTensor(shape: shape, values: zip(padded, border).map { $1 ? split.next()! : $0 })
            }
        case .reshape(let op):
            movement(op.x, shared: { RingTensor(shape: shape, values: $0.values) }, revealed: { $0 })
        case .transpose(let op):
            let input = program.instructions[op.x].shape
            movement(op.x, shared: { RingTensor(shape: shape, values: DataMovement.transpose($0.values, shape: input, perm: op.perm)) },
                     revealed: { DataMovement.transpose($0, shape: input, perm: op.perm) })
        case .slice(let op):
            let input = program.instructions[op.x].shape
            movement(op.x, shared: { RingTensor(shape: shape, values: DataMovement.slice($0.values, shape: input, starts: op.starts, steps: op.steps, resultShape: shape)) },
                     revealed: { DataMovement.slice($0, shape: input, starts: op.starts, steps: op.steps, resultShape: shape) })
        case .resize(let op):
            let input = program.instructions[op.x].shape
            movement(op.x, shared: { RingKernels.resize($0, op, resultShape: shape) }, revealed: { Epilogue.resize($0, shape: input, op, resultShape: shape) })
        case .softmax(let op):
            epilogue { Epilogue.softmax(r.revealed[op.x]!, shape: shape, axis: op.axis) }
        case .argMax(let op):
            r.shared[index] = try e.argMax(op, x: shares[op.x], input: program.instructions[op.x].shape, shape: shape, ring: ring)
        }
    }
}

extension Interpreter {
    /// The linear layers' ring kernels, as the protocol applies them to masks and shares.
    typealias LinearKernel = (RingTensor, [UInt64], [UInt64]?) -> RingTensor

    /// A layer linear in its input and in a server weight (conv, dense, scale): the input
    /// register, the weight, the bias and the kernel; nil for other instructions.
    func linearLayer(_ instruction: Instruction) -> (x: Int, weight: Int, bias: Int?, kernel: LinearKernel)? {
        let (shape, ring) = (instruction.shape, instruction.domain.ring ?? .z64)
        switch instruction.operation {
        case .conv(let op): return (op.x, op.weight, op.bias, convolution(op, shape, ring))
        case .dense(let op): return (op.x, op.weight, op.bias, dense(op, shape, ring))
        case .scale(let op): return (op.x, op.weight, nil, scale(op, shape))
        default: return nil
        }
    }

    func convolution(_ op: Conv, _ shape: [Int], _ ring: Ring) -> LinearKernel {
        let weightShape = program.weights[op.weight].shape
        return { x, w, bias in RingKernels.conv(x, op, weight: w, weightShape: weightShape, bias: bias, resultShape: shape, ring: ring) }
    }

    func dense(_ op: Dense, _ shape: [Int], _ ring: Ring) -> LinearKernel {
        let weightShape = program.weights[op.weight].shape
        return { x, w, bias in RingKernels.dense(x, weight: w, weightShape: weightShape, bias: bias, resultShape: shape, ring: ring) }
    }

    func scale(_ op: Scale, _ shape: [Int]) -> LinearKernel {
        let weightShape = program.weights[op.weight].shape
        return { x, w, _ in RingKernels.broadcast(x, RingTensor(shape: weightShape, values: w), shape: shape, &*) }
    }
}

// MARK: - Comparison layers on sign-and-select

extension Evaluator {
    func relu(_ op: ReLU, x: RingTensor?, shape: [Int], ring: Ring) throws -> RingTensor? {
        let count = shape.reduce(1, *)
        let values = x?.values
        let owner = (0..<count).map(Int32.init)
        guard let selected = try signAndSelect(values: values, pixels: values, owner: owner, valueCount: count, comparison: op.comparison, ring: ring) else { return nil }
        return RingTensor(shape: shape, values: selected)
    }

    /// One sign per patch (of its sum), selecting the patch's pixels; identity channels
    /// pass and zero channels vanish.
    func blockReLU(_ op: BlockReLU, x: RingTensor?, shape: [Int], ring: Ring) throws -> RingTensor? {
        let (pixels, owner) = RingKernels.patchPixels(shape, op.blocks)
        let patches = op.blocks.reduce(0) { $0 + $1.drelus(height: shape[2], width: shape[3]) } * shape[0]
        let sums = x.map { RingKernels.patchSums($0, blocks: op.blocks) }
        let values = x.map { x in pixels.map { x.values[$0] } }
        let selected = try signAndSelect(values: sums, pixels: values, owner: owner, valueCount: patches, comparison: op.comparison, ring: ring)
        guard var out = x, let selected else { return nil }
        for (position, pixel) in pixels.enumerated() { out.values[pixel] = selected[position] }
        RingKernels.zeroChannels(&out, blocks: op.blocks)
        return out
    }

    /// max(a, b) = b + [a - b > 0] (a - b) over adjacent pairs of window candidates, one
    /// sign-and-select per tree level for all pairs at once.
    func maxPool(_ op: MaxPool, x: RingTensor?, shape: [Int], ring: Ring) throws -> RingTensor? {
        let count = shape.reduce(1, *)
        var level = x.map { RingKernels.poolCandidates($0, op.window, resultShape: shape).map(\.values) }
            ?? Array(repeating: [], count: op.window.kernel[0] * op.window.kernel[1])
        while level.count > 1 {
            let pairs = level.count / 2
            var differences: [UInt64]? = nil
            if x != nil {
                var all: [UInt64] = []
                all.reserveCapacity(pairs * count)
                for pair in 0..<pairs { all += zip(level[2 * pair], level[2 * pair + 1]).map { (a: UInt64, b: UInt64) in a &- b } }
                differences = all
            }
            let owner = (0..<(pairs * count)).map(Int32.init)
            let selected = try signAndSelect(values: differences, pixels: differences, owner: owner, valueCount: pairs * count, comparison: op.comparison, ring: ring)
            var next: [[UInt64]] = (0..<pairs).map { pair in
                guard let selected else { return [] }
                return zip(level[2 * pair + 1], selected[(pair * count)..<((pair + 1) * count)]).map { $0 &+ $1 }
            }
            if level.count % 2 == 1 { next.append(level[level.count - 1]) }
            level = next
        }
        return x == nil ? nil : RingTensor(shape: shape, values: level[0])
    }

    /// The larger of adjacent candidates and its index, level by level (`ArgMax.levels`):
    /// with `base` the candidate ties keep (the earlier one, or the later with
    /// selectLastIndex) and d = other - base, max = base + [d > 0] d and index =
    /// base's + [d > 0] (other's - base's), both selected by d's one sign. Indices start
    /// as public values (index * 2^f, added by the client) and stay shared.
    func argMax(_ op: ArgMax, x: RingTensor?, input: [Int], shape: [Int], ring: Ring) throws -> RingTensor? {
        let n = input[op.axis], inner = input[(op.axis + 1)...].reduce(1, *), count = shape.reduce(1, *)
        let unit = UInt64(1) << UInt64(program.fracBits)
        var values: [[UInt64]] = [], indices: [[UInt64]] = []
        if let x {
            values = (0..<n).map { j in (0..<count).map { x.values[($0 / inner * n + j) * inner + $0 % inner] } }
            indices = (0..<n).map { j in Array(repeating: holder == .server ? 0 : UInt64(j) &* unit, count: count) }
        }
        for level in ArgMax.levels(candidates: n) {
            let compared = level.pairs * count
            let base = (0..<level.pairs).map { op.selectLastIndex ? 2 * $0 + 1 : 2 * $0 }, other = base.map { $0 ^ 1 }
            var differences: [UInt64]? = nil, pixels: [UInt64]? = nil
            if x != nil {
                let d = zip(other, base).flatMap { zip(values[$0], values[$1]).map { $0 &- $1 } }
                let indexDifference = zip(other, base).flatMap { zip(indices[$0], indices[$1]).map { $0 &- $1 } }
                (differences, pixels) = (d, level.keepsValues ? d + indexDifference : indexDifference)
            }
            let owner = (0..<(level.keepsValues ? 2 : 1)).flatMap { _ in (0..<compared).map(Int32.init) }
            let selected = try signAndSelect(values: differences, pixels: pixels, owner: owner, valueCount: compared, comparison: op.comparison, ring: ring)
            guard let selected else { continue }
            let indexStart = level.keepsValues ? compared : 0
            var nextValues: [[UInt64]] = [], nextIndices: [[UInt64]] = []
            for (pair, b) in base.enumerated() {
                let at = pair * count
                if level.keepsValues { nextValues.append(zip(values[b], selected[at..<(at + count)]).map { $0 &+ $1 }) }
                nextIndices.append(zip(indices[b], selected[(indexStart + at)..<(indexStart + at + count)]).map { $0 &+ $1 })
            }
            if values.count % 2 == 1 {
                nextValues.append(values[values.count - 1])
                nextIndices.append(indices[indices.count - 1])
            }
            (values, indices) = (nextValues, nextIndices)
        }
        return x == nil ? nil : RingTensor(shape: shape, values: indices[0])
    }
}
