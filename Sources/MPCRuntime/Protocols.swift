import Bytecode

/// The per-instruction protocols of a party (Runtime/PROTOCOLS.md). Client and server
/// hold additive shares x = x_C + x_S of every shared register; the helper holds none
/// and only sends correlated randomness to the server, derived partly from the PRGs it
/// shares with each of them.
extension Party {
    private var prgWithHelper: PRG { shared[.helper]! }

    /// The shared result of one instruction for this party (nil for the helper).
    func runShared(_ instruction: Instruction, shares: [RingTensor?]) throws -> RingTensor? {
        func operand(_ register: Int) -> RingTensor { shares[register]! }
        func weightTensor(_ index: Int) -> RingTensor { RingTensor(shape: program.weights[index].shape, values: weights[index]!) }
        let shape = instruction.shape
        switch instruction.operation {
        case is Input, is Constant:
            // The owner's values, split with a mask from the client-server PRG: both
            // shares look uniform, which the local truncation needs (PROTOCOLS.md).
            guard role != .helper else { return nil }
            let owned: RingTensor
            if let constant = instruction.operation as? Constant {
                owned = role == .server ? weightTensor(constant.weight) : RingTensor(zeros: shape)
            } else {
                owned = role == .client ? RingTensor(shape: shape, values: FixedPoint.encode(input!, fracBits: program.fracBits)) : RingTensor(zeros: shape)
            }
            let mask = shared[role == .client ? .server : .client]!.words(instruction.elementCount)
            return RingTensor(shape: shape, values: zip(owned.values, mask).map { role == .client ? $0 &- $1 : $0 &+ $1 })
        default:
            break
        }
        if LocalOps.handles(instruction) {
            guard role != .helper else { return nil }
            return LocalOps.apply(instruction, program, holder: role == .client ? .client : .server, operand: operand, weight: weightTensor)
        }
        switch instruction.operation {
        case let op as Conv:
            let weightShape = program.weights[op.weight].shape
            return try linear(instruction, x: op.x, shares: shares, weight: op.weight, bias: op.bias) { x, w, bias in
                RingKernels.conv(x, op, weight: w, weightShape: weightShape, bias: bias, resultShape: shape)
            }
        case let op as Dense:
            let weightShape = program.weights[op.weight].shape
            return try linear(instruction, x: op.x, shares: shares, weight: op.weight, bias: op.bias) { x, w, bias in
                RingKernels.dense(x, weight: w, weightShape: weightShape, bias: bias, resultShape: shape)
            }
        case let op as Scale:
            let weightShape = program.weights[op.weight].shape
            return try linear(instruction, x: op.x, shares: shares, weight: op.weight, bias: nil) { x, w, _ in
                RingKernels.broadcast(x, RingTensor(shape: weightShape, values: w), shape: shape, &*)
            }
        case let op as Mul:
            return try multiply(instruction, a: op.a, b: op.b, shares: shares)
        case let op as ReLU:
            let count = instruction.elementCount
            let x = role == .helper ? nil : operand(op.x).values
            guard let selected = try signAndSelect(values: x, pixels: x, owner: Array(0..<count).map(Int32.init), valueCount: count, comparison: op.comparison) else { return nil }
            return RingTensor(shape: shape, values: selected)
        case let op as BlockReLU:
            return try blockReLU(op, x: role == .helper ? nil : operand(op.x), shape: shape)
        case let op as MaxPool:
            return try maxPool(op, x: role == .helper ? nil : operand(op.x), inputShape: program.instructions[op.x].shape, shape: shape)
        default:
            preconditionFailure("\(instruction.opcode.mnemonic) has no protocol")
        }
    }

    /// Reveal (server to client) and the client's epilogue.
    func runRevealed(_ instruction: Instruction, _ index: Int, _ shares: inout [RingTensor?], _ revealed: inout [[Float]?]) throws {
        guard let reveal = instruction.operation as? Reveal else {
            revealed[index] = Epilogue.apply(instruction, program, operand: { revealed[$0]! })
            return
        }
        guard role != .helper else { return }
        let mine = shares[reveal.x]!.values
        switch role {
        case .server:
            try send(.client, mine)
            current.rounds += 1
        case .client:
            let theirs = try receive(.server, count: mine.count)
            current.rounds += 1
            revealed[index] = FixedPoint.decode(zip(mine, theirs).map { $0 &+ $1 }, fracBits: program.fracBits)
        case .helper:
            break
        }
    }

    // MARK: - Linear layers with the server's weights

    /// L_W(x) for a layer linear in x and in W. Setup gave the client M = W - B and the
    /// helper B. Per inference the client and the helper draw A (input-sized) and R
    /// (output-sized); the client sends E = x_C - A to the server and keeps L_M(A) - R;
    /// the helper sends L_B(A) + R to the server, which computes L_W(E + x_S) + bias +
    /// L_B(A) + R. The shares sum to L_W(x) + bias.
    private func linear(
        _ instruction: Instruction, x: Int, shares: [RingTensor?], weight: Int, bias: Int?,
        apply: (RingTensor, [UInt64], [UInt64]?) -> RingTensor
    ) throws -> RingTensor? {
        let inputShape = program.instructions[x].shape
        let inputCount = inputShape.reduce(1, *), outputCount = instruction.elementCount
        switch role {
        case .client:
            let prg = prgWithHelper
            let a = prg.words(inputCount), r = prg.words(outputCount)
            try send(.server, zip(shares[x]!.values, a).map { $0 &- $1 })
            current.rounds += 1
            let masked = apply(RingTensor(shape: inputShape, values: a), weights[weight]!, nil)
            return RingTensor(shape: instruction.shape, values: zip(masked.values, r).map { $0 &- $1 })
        case .helper:
            let prg = shared[.client]!
            let a = prg.words(inputCount), r = prg.words(outputCount)
            let product = apply(RingTensor(shape: inputShape, values: a), weights[weight]!, nil)
            try send(.server, zip(product.values, r).map { $0 &+ $1 })
            return nil
        case .server:
            let e = try receive(.client, count: inputCount)
            current.rounds += 1
            let fromHelper = try receive(.helper, count: outputCount)
            let opened = RingTensor(shape: inputShape, values: zip(e, shares[x]!.values).map { $0 &+ $1 })
            let product = apply(opened, weights[weight]!, bias.map { weights[$0]! })
            return RingTensor(shape: instruction.shape, values: zip(product.values, fromHelper).map { $0 &+ $1 })
        }
    }

    // MARK: - Products of two shared tensors

    /// Beaver: the helper deals a, b and c = a * b (the client's parts and c_C from their
    /// PRG, the server's a and b from theirs, c_S sent); both open x - a and y - b.
    private func multiply(_ instruction: Instruction, a x: Int, b y: Int, shares: [RingTensor?]) throws -> RingTensor? {
        let xShape = program.instructions[x].shape, yShape = program.instructions[y].shape
        let shape = instruction.shape
        let (xCount, yCount, count) = (xShape.reduce(1, *), yShape.reduce(1, *), instruction.elementCount)
        switch role {
        case .helper:
            let client = shared[.client]!, server = shared[.server]!
            let aC = client.words(xCount), aS = server.words(xCount)
            let bC = client.words(yCount), bS = server.words(yCount)
            let cC = client.words(count)
            let c = RingKernels.broadcast(
                RingTensor(shape: xShape, values: zip(aC, aS).map { $0 &+ $1 }), RingTensor(shape: yShape, values: zip(bC, bS).map { $0 &+ $1 }),
                shape: shape, &*)
            try send(.server, zip(c.values, cC).map { $0 &- $1 })
            return nil
        case .client, .server:
            let prg = prgWithHelper
            let a = prg.words(xCount), b = prg.words(yCount)
            let c = role == .client ? prg.words(count) : try receive(.helper, count: count)
            let mine = zip(shares[x]!.values, a).map { $0 &- $1 } + zip(shares[y]!.values, b).map { $0 &- $1 }
            let theirs = try exchange(mine)
            let opened = zip(mine, theirs).map { $0 &+ $1 }
            let e = RingTensor(shape: xShape, values: Array(opened[0..<xCount])), f = RingTensor(shape: yShape, values: Array(opened[xCount...]))
            var z = RingKernels.broadcast(e, RingTensor(shape: yShape, values: b), shape: shape, &*)
            z = RingKernels.broadcast(z, RingKernels.broadcast(RingTensor(shape: xShape, values: a), f, shape: shape, &*), shape: shape, &+)
            z = RingTensor(shape: shape, values: zip(z.values, c).map { $0 &+ $1 })
            if role == .server { z = RingKernels.broadcast(z, RingKernels.broadcast(e, f, shape: shape, &*), shape: shape, &+) }
            return z
        }
    }

    // MARK: - Block ReLU and max pooling

    private func blockReLU(_ op: BlockReLU, x: RingTensor?, shape: [Int]) throws -> RingTensor? {
        var owner: [Int32] = [], pixels: [Int] = []
        RingKernels.forEachPatch(shape, op.blocks) { patch, indices in
            for index in indices {
                owner.append(Int32(patch))
                pixels.append(index)
            }
        }
        let patches = Int(owner.last.map { $0 + 1 } ?? 0)
        let sums = x.map { RingKernels.patchSums($0, blocks: op.blocks) }
        let values = x.map { x in pixels.map { x.values[$0] } }
        let selected = try signAndSelect(values: sums, pixels: values, owner: owner, valueCount: patches, comparison: op.comparison)
        guard var out = x, let selected else { return nil }
        for (position, pixel) in pixels.enumerated() { out.values[pixel] = selected[position] }
        RingKernels.zeroChannels(&out, blocks: op.blocks)
        return out
    }

    /// max(a, b) = b + [a - b > 0] (a - b) over adjacent pairs of window candidates, one
    /// comparison round trip per tree level for all pairs at once.
    private func maxPool(_ op: MaxPool, x: RingTensor?, inputShape: [Int], shape: [Int]) throws -> RingTensor? {
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
            let selected = try signAndSelect(values: differences, pixels: differences, owner: owner, valueCount: pairs * count, comparison: op.comparison)
            var next: [[UInt64]] = (0..<pairs).map { pair in
                guard let selected else { return [] }
                return zip(level[2 * pair + 1], selected[(pair * count)..<((pair + 1) * count)]).map { $0 &+ $1 }
            }
            if level.count % 2 == 1 { next.append(level[level.count - 1]) }
            level = next
        }
        return x == nil ? nil : RingTensor(shape: shape, values: level[0])
    }
}
