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
        let all = planes(windows, bits: [k - 1] + Array((0..<layout.leaves).reversed()), words: layout.words)
        let top = Array(all[..<layout.words]), low = Array(all[layout.words...])
        let (leafGenerate, f) = try leafRound(low, pixels: pixels!, pixelMask: masks.q, ring: ring, layout, prg, &feed)
        let carry = try carryTree(generate: leafGenerate, propagate: low, layout, prg, &feed)
        // The bit: top bits xor carry; open t = bit xor r.
        let bitShare = (0..<layout.words).map { top[$0] ^ carry[$0] ^ masks.r[$0] }
        let t = zip(bitShare, try exchange(bitShare)).map { $0 ^ $1 }
        return Party.select(pixels: pixels!, owner: owner, t: t, masks: masks, f: f)
    }

    /// bit * p = t p + (1 - 2t)(r F + r q) per pixel, t and F public: with x = r F + r q,
    /// p - x where t = 1 and x where t = 0.
    private static func select(pixels: [UInt64], owner: [Int32], t: [UInt64], masks: SelectionMasks, f: [UInt64]) -> [UInt64] {
        [UInt64](unsafeUninitializedCapacity: pixels.count) { out, initialized in
            pixels.withUnsafeBufferPointer { own in
                owner.withUnsafeBufferPointer { owner in
                    for i in 0..<own.count {
                        let j = Int(owner[i])
                        let x = masks.rA[j] &* f[i] &+ masks.rq[i]
                        let set = (t[j >> 6] >> UInt64(j & 63)) & 1
                        out[i] = set == 1 ? own[i] &- x : x
                    }
                }
            }
            initialized = pixels.count
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
    private func selectionMasks(_ layout: SignLayout, _ prg: PRG, _ feed: inout HelperFeed) -> SelectionMasks {
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
    /// a later level needs it, by AND triples opened for all pairs at once. Planes are
    /// `words` long, node by node; pair i joins nodes 2i (high) and 2i + 1 (low).
    private func combine(_ level: (withEqual: Int, withoutEqual: Int), generate: [UInt64], propagate: [UInt64], nodes: Int, words: Int,
                         _ prg: PRG, _ feed: inout HelperFeed) throws -> ([UInt64], [UInt64]) {
        let isServer = role == .server
        let pairs = level.withEqual + level.withoutEqual, equal = level.withEqual
        let (pw, ew) = (pairs * words, equal * words)
        let alpha = prg.words(pw), beta1 = prg.words(pw), beta2 = prg.words(ew)
        let gamma1 = isServer ? feed.take(pw) : prg.words(pw)
        let gamma2 = isServer ? feed.take(ew) : prg.words(ew)
        // Opened: P_high xor alpha, G_low xor beta1, P_low xor beta2 (pairs with P only).
        var message = [UInt64](repeating: 0, count: 2 * pw + ew)
        for pair in 0..<pairs {
            let (high, low, at) = (2 * pair * words, (2 * pair + 1) * words, pair * words)
            for word in 0..<words {
                message[at + word] = propagate[high + word] ^ alpha[at + word]
                message[pw + at + word] = generate[low + word] ^ beta1[at + word]
                if pair < equal { message[2 * pw + at + word] = propagate[low + word] ^ beta2[at + word] }
            }
        }
        let theirs = try exchange(message)
        let odd = nodes % 2 == 1 ? words : 0
        var nextGenerate = [UInt64](repeating: 0, count: pw + odd), nextPropagate = [UInt64](repeating: 0, count: pw + odd)
        let serverMask: UInt64 = isServer ? ~0 : 0
        for at in 0..<pw {
            let d = message[at] ^ theirs[at], e1 = message[pw + at] ^ theirs[pw + at]
            let and1 = gamma1[at] ^ (d & beta1[at]) ^ (e1 & alpha[at]) ^ (d & e1 & serverMask)
            nextGenerate[at] = generate[2 * (at / words) * words + at % words] ^ and1
            guard at < ew else { continue }  // without P: contains bit 0, never needed
            let e2 = message[2 * pw + at] ^ theirs[2 * pw + at]
            nextPropagate[at] = gamma2[at] ^ (d & beta2[at]) ^ (e2 & alpha[at]) ^ (d & e2 & serverMask)
        }
        if odd > 0 {
            for word in 0..<words {
                nextGenerate[pw + word] = generate[(nodes - 1) * words + word]
                nextPropagate[pw + word] = propagate[(nodes - 1) * words + word]
            }
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

/// The selection's masks: the random bit r as XOR shares (bit planes), its arithmetic
/// share rA per value, the pixel masks q and the shares of r q per pixel.
typealias SelectionMasks = (r: [UInt64], rA: [UInt64], q: [UInt64], rq: [UInt64])

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
