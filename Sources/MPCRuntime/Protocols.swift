import Bytecode

/// The per-instruction protocols of a party (Runtime/PROTOCOLS.md). Client and server
/// hold additive shares x = x_C + x_S of every shared register; the helper holds none
/// and only sends correlated randomness to the server, derived partly from the PRGs it
/// shares with each of them.
extension Party: Evaluator {
    private var prgWithHelper: PRG { shared[.helper]! }

    var holder: Holder? {
        switch role {
        case .client: .client
        case .server: .server
        case .helper: nil
        }
    }

    var computesRevealed: Bool { role == .client }

    func weightTensor(_ index: Int) -> RingTensor { RingTensor(shape: program.weights[index].shape, values: weights[index]!) }

    /// The client's input, clamped to the program's input range and split with a mask
    /// from the client-server PRG: both shares look uniform (PROTOCOLS.md).
    func shareInput(shape: [Int]) throws -> RingTensor? {
        let owned = role == .client ? FixedPoint.encode(FixedPoint.clamped(input!, to: program.inputRange).values, fracBits: program.fracBits) : nil
        return splitWithMask(owned, shape: shape)
    }

    /// A server constant, split like the input.
    func shareConstant(_ weight: Int, shape: [Int]) throws -> RingTensor? {
        splitWithMask(role == .server ? weights[weight]! : nil, shape: shape)
    }

    func splitPublic(_ value: UInt64, count: Int) -> [UInt64] {
        splitWithMask(role == .server ? [UInt64](repeating: value, count: count) : nil, shape: [count])?.values ?? []
    }

    /// The owner's values minus (client) or plus (server) the client-server PRG's mask;
    /// nil values: the other one owns them.
    private func splitWithMask(_ values: [UInt64]?, shape: [Int]) -> RingTensor? {
        guard role != .helper else { return nil }
        let count = shape.reduce(1, *)
        let owned = values ?? [UInt64](repeating: 0, count: count)
        let mask = shared[role == .client ? .server : .client]!.words(count)
        return RingTensor(shape: shape, values: zip(owned, mask).map { role == .client ? $0 &- $1 : $0 &+ $1 })
    }

    /// The server sends its share to the client, who alone learns the value.
    func reveal(_ x: RingTensor?, ring: Ring) throws -> [Float]? {
        switch role {
        case .server:
            try send(.client, x!.values, ring: ring)
            current.rounds += 1
            return nil
        case .client:
            let mine = x!.values
            let theirs = try receive(.server, count: mine.count, ring: ring)
            current.rounds += 1
            return FixedPoint.decode(zip(mine, theirs).map { ring.canonical($0 &+ $1) }, fracBits: program.fracBits)
        case .helper:
            return nil
        }
    }

    // MARK: - Linear layers with the server's weights

    /// L_W(x) for a layer linear in x and in W. Setup gave the client M = W - B and the
    /// helper B. Per inference the client and the helper draw A (input-sized) and R
    /// (output-sized); the client sends E = x_C - A to the server and keeps L_M(A) - R;
    /// the helper sends L_B(A) + R to the server, which computes L_W(E + x_S) + bias +
    /// L_B(A) + R. The shares sum to L_W(x) + bias.
    func linear(_ instruction: Instruction, x: Int, _ share: RingTensor?, weight: Int, bias: Int?,
                apply: (RingTensor, [UInt64], [UInt64]?) -> RingTensor) throws -> RingTensor? {
        let inputShape = program.instructions[x].shape
        let inputCount = inputShape.reduce(1, *), outputCount = instruction.elementCount
        let ring = instruction.domain.ring!
        switch role {
        case .client:
            // Prepared offline: only A is drawn again (the stream's first words).
            let prepared = active!.linearShares.removeValue(forKey: running)
            let (a, y) = prepared.map { (prgWithHelper.words(inputCount), $0) }
                ?? clientLinearShare(instruction, x: x, weight: weight, prg: prgWithHelper, apply: apply)
            try send(.server, zip(share!.values, a).map { $0 &- $1 }, ring: ring)
            current.rounds += 1
            return y
        case .helper:
            let prg = shared[.client]!
            let a = prg.words(inputCount), r = prg.words(outputCount)
            let product = apply(RingTensor(shape: inputShape, values: a), weights[weight]!, nil)
            try send(.server, zip(product.values, r).map { $0 &+ $1 }, ring: ring)
            return nil
        case .server:
            let e = try receive(.client, count: inputCount, ring: ring)
            current.rounds += 1
            let fromHelper = try receive(.helper, count: outputCount, ring: ring)
            let opened = RingTensor(shape: inputShape, values: zip(e, share!.values).map { $0 &+ $1 })
            let product = apply(opened, weights[weight]!, bias.map { weights[$0]! })
            return RingTensor(shape: instruction.shape, values: zip(product.values, fromHelper).map { $0 &+ $1 })
        }
    }

    // MARK: - Products of two shared tensors

    /// Beaver: the helper deals a, b and c = a * b (the client's parts and c_C from their
    /// PRG, the server's a and b from theirs, c_S sent); both open x - a and y - b.
    func multiply(_ instruction: Instruction, a x: Int, _ xShare: RingTensor?, b y: Int, _ yShare: RingTensor?) throws -> RingTensor? {
        let xShape = program.instructions[x].shape, yShape = program.instructions[y].shape
        let shape = instruction.shape
        let (xCount, yCount, count) = (xShape.reduce(1, *), yShape.reduce(1, *), instruction.elementCount)
        let ring = instruction.domain.ring!
        switch role {
        case .helper:
            let client = shared[.client]!, server = shared[.server]!
            let aC = client.words(xCount), aS = server.words(xCount)
            let bC = client.words(yCount), bS = server.words(yCount)
            let cC = client.words(count)
            let c = RingKernels.broadcast(
                RingTensor(shape: xShape, values: zip(aC, aS).map { $0 &+ $1 }), RingTensor(shape: yShape, values: zip(bC, bS).map { $0 &+ $1 }),
                shape: shape, &*)
            try send(.server, zip(c.values, cC).map { $0 &- $1 }, ring: ring)
            return nil
        case .client, .server:
            let prg = prgWithHelper
            let a = prg.words(xCount), b = prg.words(yCount)
            let c = role == .client ? prg.words(count) : try receive(.helper, count: count, ring: ring)
            let mine = zip(xShare!.values, a).map { $0 &- $1 } + zip(yShare!.values, b).map { $0 &- $1 }
            let theirs = try exchange(mine, ring: ring)
            let opened = zip(mine, theirs).map { $0 &+ $1 }
            let e = RingTensor(shape: xShape, values: Array(opened[0..<xCount])), f = RingTensor(shape: yShape, values: Array(opened[xCount...]))
            var z = RingKernels.broadcast(e, RingTensor(shape: yShape, values: b), shape: shape, &*)
            z = RingKernels.broadcast(z, RingKernels.broadcast(RingTensor(shape: xShape, values: a), f, shape: shape, &*), shape: shape, &+)
            z = RingTensor(shape: shape, values: zip(z.values, c).map { $0 &+ $1 })
            if role == .server { z = RingKernels.broadcast(z, RingKernels.broadcast(e, f, shape: shape, &*), shape: shape, &+) }
            return z
        }
    }
}
