import Bytecode
import CRingKernels

/// DReLU and selection (Runtime/PROTOCOLS.md, "sign and select"): for n shared values
/// v_j, the bit [v_j > 0] as XOR shares, computed as the top bit of u = -v: the top bits
/// of the two shares xor the carry out of their low bits, and the carry is a comparison
/// of the client's low bits with the server's, evaluated as a carry-lookahead tree of
/// AND gates on bit-sliced XOR shares (64 values per word) with triples from the helper.
/// Then each of m shared pixels p_i is multiplied by its owner's bit: with the helper's
/// random bit r (XOR and arithmetic shares) and the pixel's mask q, the parties open
/// t = bit xor r and F = p - q, and bit * p = t p + (1 - 2t)(r F + r q).
extension Party {
    /// Client and server pass their shares of `values` and `pixels`; the helper nil.
    /// `owner[i]` is the value whose bit multiplies pixel i. Arithmetic words (pixels and
    /// the selection's masks) travel at `ring`'s width, bit planes in 64-bit words.
    func signAndSelect(values: [UInt64]?, pixels: [UInt64]?, owner: [Int32], valueCount n: Int, comparison: Comparison, ring: Ring) throws -> [UInt64]? {
        guard n > 0 else { return role == .helper ? nil : pixels }
        let layout = SignLayout(values: n, pixels: owner.count, comparison: comparison)
        let arithmetic = layout.values + layout.pixels
        if role == .helper {
            let feed = dealSignAndSelect(layout, owner: owner)
            try send(.server, parts: [(Array(feed[..<arithmetic]), ring), (Array(feed[arithmetic...]), .z64)])
            return nil
        }
        var feed = HelperFeed(words: role == .server
            ? try receive(.helper, parts: [(arithmetic, ring), (layout.feedCount - arithmetic, .z64)]).joined().map { $0 } : [])
        let prg = shared[.helper]!
        let masks = selectionMasks(layout, prg, &feed)
        // Each party's window of u = -v: the low k-1 bits as planes (most significant
        // leaf first), and the top bit.
        let k = comparison.bits
        let window: UInt64 = k == 64 ? ~0 : (1 << UInt64(k)) - 1
        let windows = values!.map { ((0 &- $0) >> UInt64(comparison.dropped)) & window }
        let top = planes(windows, bits: [k - 1], words: layout.words)
        let low = planes(windows, bits: Array((0..<layout.leaves).reversed()), words: layout.words)
        let (leafGenerate, f) = try leafRound(low, pixels: pixels!, pixelMask: masks.q, ring: ring, layout, prg, &feed)
        let carry = try carryTree(generate: leafGenerate, propagate: low, layout, prg, &feed)
        // The bit: top bits xor carry; open t = bit xor r.
        let bitShare = (0..<layout.words).map { top[$0] ^ carry[$0] ^ masks.r[$0] }
        let t = zip(bitShare, try exchange(bitShare)).map { $0 ^ $1 }
        let own = pixels!
        return owner.indices.map { i in
            let j = Int(owner[i])
            let x = masks.rA[j] &* f[i] &+ masks.rq[i]
            return bit(t, j) == 1 ? own[i] &+ (0 &- x) : x
        }
    }

    /// The helper's feed to the server, in the order the server reads it: the selection's
    /// arithmetic mask bits and mask products, the leaves' AND triples, then each level's.
    private func dealSignAndSelect(_ layout: SignLayout, owner: [Int32]) -> [UInt64] {
        let (n, m, words, leaves) = (layout.values, layout.pixels, layout.words, layout.leaves)
        let client = shared[.client]!, server = shared[.server]!
        var feed: [UInt64] = []
        feed.reserveCapacity(layout.feedCount)
        let rC = client.words(words), rAC = client.words(n), qC = client.words(m), rqC = client.words(m)
        let rS = server.words(words), qS = server.words(m)
        let r = zip(rC, rS).map { $0 ^ $1 }
        for j in 0..<n { feed.append(bit(r, j) &- rAC[j]) }
        for i in 0..<m { feed.append(bit(r, Int(owner[i])) &* (qC[i] &+ qS[i]) &- rqC[i]) }
        let u = client.words(leaves * words), wC = client.words(leaves * words), v = server.words(leaves * words)
        for index in 0..<(leaves * words) { feed.append((u[index] & v[index]) ^ wC[index]) }
        for level in layout.circuit.levels {
            let pairs = (level.withEqual + level.withoutEqual) * words, equal = level.withEqual * words
            let aC = client.words(pairs), b1C = client.words(pairs), b2C = client.words(equal), g1C = client.words(pairs), g2C = client.words(equal)
            let aS = server.words(pairs), b1S = server.words(pairs), b2S = server.words(equal)
            for index in 0..<pairs { feed.append(((aC[index] ^ aS[index]) & (b1C[index] ^ b1S[index])) ^ g1C[index]) }
            for index in 0..<equal { feed.append(((aC[index] ^ aS[index]) & (b2C[index] ^ b2S[index])) ^ g2C[index]) }
        }
        return feed
    }

    /// The selection's masks (drawn first, in the helper's order): the random bit r as
    /// XOR shares, its arithmetic share rA, the pixel masks q and the share of r q.
    private func selectionMasks(_ layout: SignLayout, _ prg: PRG, _ feed: inout HelperFeed) -> (r: [UInt64], rA: [UInt64], q: [UInt64], rq: [UInt64]) {
        let r = prg.words(layout.words)
        if role == .server {
            let q = prg.words(layout.pixels)
            let rA = feed.take(layout.values)
            return (r, rA, q, feed.take(layout.pixels))
        }
        let rA = prg.words(layout.values), q = prg.words(layout.pixels)
        return (r, rA, q, prg.words(layout.pixels))
    }

    /// Round 1: the leaves' generate bits g = a AND b (with the helper's u, v, w), sent
    /// with the masked pixels F = p - q, which it opens.
    private func leafRound(_ low: [UInt64], pixels: [UInt64], pixelMask q: [UInt64], ring: Ring, _ layout: SignLayout, _ prg: PRG,
                           _ feed: inout HelperFeed) throws -> (generate: [UInt64], f: [UInt64]) {
        let count = layout.leaves * layout.words
        let isServer = role == .server
        let ownMask = prg.words(count)
        let clientW = isServer ? [] : prg.words(count)
        let masked = zip(low, ownMask).map { $0 ^ $1 }
        let maskedPixels = zip(pixels, q).map { $0 &- $1 }
        let theirs = try exchange(parts: [(masked, .z64), (maskedPixels, ring)])
        let other = theirs[0]
        let f = zip(maskedPixels, theirs[1]).map { $0 &+ $1 }
        if isServer {
            let serverW = feed.take(count)
            // d from the client, e our own: d e xor d v xor w_S.
            return ((0..<count).map { (other[$0] & masked[$0]) ^ (other[$0] & ownMask[$0]) ^ serverW[$0] }, f)
        }
        // u e xor w_C.
        return ((0..<count).map { (ownMask[$0] & other[$0]) ^ clientW[$0] }, f)
    }

    /// The carry-lookahead tree: (G, P) of adjacent pairs, high node first, one round
    /// per level; returns the carry into the top bit (the root's G).
    private func carryTree(generate leaves: [UInt64], propagate leafPropagate: [UInt64], _ layout: SignLayout, _ prg: PRG, _ feed: inout HelperFeed) throws -> [UInt64] {
        var (generate, propagate) = (leaves, leafPropagate)
        var nodes = layout.leaves
        for level in layout.circuit.levels {
            (generate, propagate) = try combine(level, generate: generate, propagate: propagate, nodes: nodes, words: layout.words, prg, &feed)
            nodes -= level.withEqual + level.withoutEqual
        }
        return generate
    }

    /// One tree level: G = G_high xor (P_high AND G_low), and P = P_high AND P_low where
    /// a later level needs it, by AND triples opened for all pairs at once.
    private func combine(_ level: (withEqual: Int, withoutEqual: Int), generate: [UInt64], propagate: [UInt64], nodes: Int, words: Int,
                         _ prg: PRG, _ feed: inout HelperFeed) throws -> ([UInt64], [UInt64]) {
        let isServer = role == .server
        let pairs = level.withEqual + level.withoutEqual, equal = level.withEqual
        let alpha = prg.words(pairs * words), beta1 = prg.words(pairs * words), beta2 = prg.words(equal * words)
        let gamma1 = isServer ? feed.take(pairs * words) : prg.words(pairs * words)
        let gamma2 = isServer ? feed.take(equal * words) : prg.words(equal * words)
        func plane(_ array: [UInt64], _ node: Int) -> ArraySlice<UInt64> { array[(node * words)..<((node + 1) * words)] }
        var message: [UInt64] = []
        message.reserveCapacity((2 * pairs + equal) * words)
        for pair in 0..<pairs { message += zip(plane(propagate, 2 * pair), plane(alpha, pair)).map { $0 ^ $1 } }
        for pair in 0..<pairs { message += zip(plane(generate, 2 * pair + 1), plane(beta1, pair)).map { $0 ^ $1 } }
        for pair in 0..<equal { message += zip(plane(propagate, 2 * pair + 1), plane(beta2, pair)).map { $0 ^ $1 } }
        let opened = zip(message, try exchange(message)).map { $0 ^ $1 }
        var nextGenerate: [UInt64] = [], nextPropagate: [UInt64] = []
        for pair in 0..<pairs {
            for word in 0..<words {
                let at = pair * words + word
                let d = opened[at], e1 = opened[pairs * words + at]
                var and1 = gamma1[at] ^ (d & beta1[at]) ^ (e1 & alpha[at])
                if isServer { and1 ^= d & e1 }
                nextGenerate.append(generate[2 * pair * words + word] ^ and1)
                guard pair < equal else {
                    nextPropagate.append(0)  // contains bit 0: never needed
                    continue
                }
                let e2 = opened[2 * pairs * words + at]
                var and2 = gamma2[at] ^ (d & beta2[at]) ^ (e2 & alpha[at])
                if isServer { and2 ^= d & e2 }
                nextPropagate.append(and2)
            }
        }
        if nodes % 2 == 1 {
            nextGenerate += generate[((nodes - 1) * words)...]
            nextPropagate += propagate[((nodes - 1) * words)...]
        }
        return (nextGenerate, nextPropagate)
    }

    /// Bit j of a bit-sliced plane, as 0 or 1.
    private func bit(_ plane: [UInt64], _ j: Int) -> UInt64 { (plane[j >> 6] >> UInt64(j & 63)) & 1 }

    /// Bit planes of `values` for the given bit positions, in that order, `words` words
    /// each: 64 values at a time by a 64 x 64 bit transpose.
    private func planes(_ values: [UInt64], bits positions: [Int], words: Int) -> [UInt64] {
        var result = [UInt64](repeating: 0, count: positions.count * words)
        var block = [UInt64](repeating: 0, count: 64), transposed = [UInt64](repeating: 0, count: 64)
        for word in 0..<words {
            let start = word * 64, end = min(start + 64, values.count)
            for index in 0..<64 { block[index] = start + index < end ? values[start + index] : 0 }
            mpc_transpose_bits64(block, &transposed)
            for (plane, position) in positions.enumerated() { result[plane * words + word] = transposed[position] }
        }
        return result
    }
}

/// Sizes of one sign-and-select: n values (their bits packed 64 to a word), m pixels,
/// and the comparison circuit of a `bits`-bit window.
struct SignLayout {
    let values: Int, pixels: Int
    let words: Int
    let leaves: Int
    let circuit: CostModel.ComparisonCircuit
    /// Words the helper sends the server.
    let feedCount: Int

    init(values: Int, pixels: Int, comparison: Comparison) {
        self.values = values
        self.pixels = pixels
        words = (values + 63) / 64
        leaves = comparison.bits - 1
        circuit = CostModel.ComparisonCircuit(bits: comparison.bits)
        feedCount = values + pixels + leaves * words + circuit.levels.reduce(0) { $0 + (2 * $1.withEqual + $1.withoutEqual) } * words
    }
}

/// The server's copy of the helper's feed, read in order.
struct HelperFeed {
    let words: [UInt64]
    var cursor = 0

    mutating func take(_ count: Int) -> [UInt64] {
        defer { cursor += count }
        return Array(words[cursor..<(cursor + count)])
    }
}
