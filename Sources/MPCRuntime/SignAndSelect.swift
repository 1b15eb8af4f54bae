import Bytecode
import CRingKernels

/// DReLU and selection (Runtime/PROTOCOLS.md, "sign and select"): for n shared values
/// v_j, the bit b_j = [v_j > 0] as XOR shares (beta_C xor beta_S), computed as the top bit
/// of u = -v: the top bits of the two shares xor the carry out of their low bits, and the
/// carry is a comparison of the client's low bits with the server's, evaluated as a
/// carry-lookahead tree of AND gates on bit-sliced XOR shares (64 values per word) with
/// triples from the helper. Then each of m shared pixels p_i is multiplied by its owner's
/// bit: b p = beta_C p_C + beta_S p_S + beta_S (1 - 2 beta_C) p_C + beta_C (1 - 2 beta_S) p_S,
/// whose last two terms are one party's bit times the other's word, each a correlated
/// oblivious transfer from keys the helper deals, one word per pixel each way.
extension Party {
    /// Client and server pass their shares of `values` and `pixels`; the helper nil.
    /// `owner[i]` is the value whose bit multiplies pixel i. Arithmetic words (pixels and
    /// the transfers' keys) travel at `ring`'s width, bit planes in 64-bit words.
    func signAndSelect(values: [UInt64]?, pixels: [UInt64]?, owner: [Int32], valueCount n: Int, comparison: Comparison, ring: Ring) throws -> [UInt64]? {
        guard n > 0 else { return role == .helper ? nil : pixels }
        let layout = SignLayout(values: n, owner: owner, comparison: comparison, ring: ring)
        if role == .helper {
            try dealSignAndSelect(layout, ring: ring)
            return nil
        }
        // The stream shared with the helper: the transfers' correlations, then the circuit's.
        let prg = shared[.helper]!
        let choice = prg.words(layout.words), senderKeys = TransferKeys(layout, prg)
        let (receiverKeys, triples) = try receiveKeys(layout, ring: ring)
        var feed = HelperFeed(words: triples)
        // Each party's window of u = -v: the low k-1 bits as planes (most significant
        // leaf first), and the top bit.
        let k = comparison.bits
        let window: UInt64 = k == 64 ? ~0 : (1 << UInt64(k)) - 1
        let windows = values!.map { ((0 &- $0) >> UInt64(comparison.dropped)) & window }
        let all = planes(windows, bits: [k - 1] + Array((0..<layout.leaves).reversed()), words: layout.words)
        let top = Array(all[..<layout.words]), low = Array(all[layout.words...])
        let leafGenerate = try leafRound(low, layout, prg, &feed)
        let carry = try carryTree(generate: leafGenerate, propagate: low, layout, prg, &feed)
        let bit = (0..<layout.words).map { top[$0] ^ carry[$0] }
        return try select(pixels!, bit: bit, choice: choice, sender: senderKeys, receiver: receiverKeys, layout, ring: ring)
    }

    /// The keys the helper chose for this party as a receiver (and, for the server, the
    /// circuit's AND-triple shares): one frame; the client's is empty without pixels.
    private func receiveKeys(_ layout: SignLayout, ring: Ring) throws -> (ChosenKeys, [UInt64]) {
        var parts: [(count: Int, ring: Ring)] = [(layout.wordPixels, ring), (2 * layout.seededValues, .z64)]
        if role == .server { parts.append((layout.tripleCount, .z64)) }
        guard role == .server || layout.keyBytes(ring) > 0 else { return (ChosenKeys(words: [], seeds: []), []) }
        let frame = try receive(.helper, parts: parts)
        return (ChosenKeys(words: frame[0], seeds: frame[1]), role == .server ? frame[2] : [])
    }

    /// Both transfers in one round. Each party sends its bit xor its choice mask, d, and
    /// per pixel y = K0 - K1 + Delta with Delta = (1 - 2 beta) p. With the peer's d' and
    /// y', its share of b p is beta p + [d' Delta - (1 - 2d') K0] (as sender) +
    /// (1 - 2d) (K_e + e y') (as receiver of the peer's transfer, K_e its chosen key).
    private func select(_ p: [UInt64], bit: [UInt64], choice: [UInt64], sender: TransferKeys, receiver: ChosenKeys,
                        _ layout: SignLayout, ring: Ring) throws -> [UInt64] {
        let pad0 = layout.pads(sender.k0), pad1 = layout.pads(sender.k1), chosen = layout.pads(receiver)
        let owner = layout.owner
        let y = (0..<p.count).map { i in
            pad0[i] &- pad1[i] &+ (planeBit(bit, Int(owner[i])) == 1 ? 0 &- p[i] : p[i])
        }
        let d = zip(bit, choice).map { $0 ^ $1 }
        let theirs = try exchange(parts: [(d, .z64), (y, ring)])
        let (peerD, peerY) = (theirs[0], theirs[1])
        return (0..<p.count).map { i in
            let j = Int(owner[i])
            let delta = y[i] &- pad0[i] &+ pad1[i]
            let own = planeBit(bit, j) == 1 ? p[i] : 0
            let asSender = planeBit(peerD, j) == 1 ? delta &+ pad0[i] : 0 &- pad0[i]
            let u = planeBit(choice, j) == 1 ? chosen[i] &+ peerY[i] : chosen[i]
            return own &+ asSender &+ (planeBit(d, j) == 1 ? 0 &- u : u)
        }
    }

    /// The helper's part: to each party, the keys its choice bits pick from the other's
    /// key pairs; to the server, the circuit's AND-triple shares, in the order it reads.
    private func dealSignAndSelect(_ layout: SignLayout, ring: Ring) throws {
        let client = shared[.client]!, server = shared[.server]!
        let clientChoice = client.words(layout.words), clientKeys = TransferKeys(layout, client)
        let serverChoice = server.words(layout.words), serverKeys = TransferKeys(layout, server)
        let toServer = layout.chosen(clientKeys, by: serverChoice), toClient = layout.chosen(serverKeys, by: clientChoice)
        let (words, leaves) = (layout.words, layout.leaves)
        var triples: [UInt64] = []
        triples.reserveCapacity(layout.tripleCount)
        let u = client.words(leaves * words), wC = client.words(leaves * words), v = server.words(leaves * words)
        for index in 0..<(leaves * words) { triples.append((u[index] & v[index]) ^ wC[index]) }
        dealCarryTree(layout, client, server, into: &triples)
        try send(.server, parts: [(toServer.words, ring), (toServer.seeds, .z64), (triples, .z64)])
        if layout.keyBytes(ring) > 0 { try send(.client, parts: [(toClient.words, ring), (toClient.seeds, .z64)]) }
    }

    /// Round 1: the leaves' generate bits g = a AND b (with the helper's u, v, w).
    private func leafRound(_ low: [UInt64], _ layout: SignLayout, _ prg: PRG, _ feed: inout HelperFeed) throws -> [UInt64] {
        let count = layout.leaves * layout.words
        let isServer = role == .server
        let ownMask = prg.words(count)
        let clientW = isServer ? [] : prg.words(count)
        let masked = zip(low, ownMask).map { $0 ^ $1 }
        let other = try exchange(masked)
        if isServer {
            let serverW = feed.take(count)
            // d from the client, e our own: d e xor d v xor w_S.
            return (0..<count).map { (other[$0] & masked[$0]) ^ (other[$0] & ownMask[$0]) ^ serverW[$0] }
        }
        // u e xor w_C.
        return (0..<count).map { (ownMask[$0] & other[$0]) ^ clientW[$0] }
    }

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

/// Bit j of a bit-sliced plane, as 0 or 1.
@inline(__always) func planeBit(_ plane: [UInt64], _ j: Int) -> UInt64 { (plane[j >> 6] >> UInt64(j & 63)) & 1 }

/// Sizes of one sign-and-select: n values (their bits packed 64 to a word), m pixels,
/// the comparison circuit of a `bits`-bit window, and where each pixel's transfer key
/// comes from: a ring word of its own, or its value's seed stretched over the value's
/// pixels (`CostModel.selectsBySeed`).
struct SignLayout {
    let values: Int, pixels: Int
    let words: Int
    let leaves: Int
    let circuit: ComparisonCircuit
    /// Words of AND-triple shares the helper sends the server.
    let tripleCount: Int
    let owner: [Int32]
    /// Per pixel: its index among the pixels with word keys (>= 0), or -1 - its offset in
    /// the seeds' concatenated keystreams.
    let slots: [Int]
    let wordPixels: Int
    /// Per value that selects by seed (in value order), its pixel count; and per value,
    /// its rank among those, or -1.
    let seedLengths: [Int32]
    let seedRank: [Int32]

    init(values n: Int, owner: [Int32], comparison: Comparison, ring: Ring) {
        values = n
        pixels = owner.count
        self.owner = owner
        words = (n + 63) / 64
        leaves = comparison.bits - 1
        circuit = ComparisonCircuit(bits: comparison.bits, radix: comparison.radix)
        tripleCount = (circuit.helperBits) * words
        var counts = [Int](repeating: 0, count: n)
        for j in owner { counts[Int(j)] += 1 }
        var rank = [Int32](repeating: -1, count: n), lengths: [Int32] = [], offset = [Int](repeating: 0, count: n)
        var stretched = 0
        for j in 0..<n where CostModel.selectsBySeed(pixels: counts[j], ring: ring) {
            (rank[j], offset[j]) = (Int32(lengths.count), stretched)
            lengths.append(Int32(counts[j]))
            stretched += counts[j]
        }
        var slots = [Int](repeating: 0, count: owner.count), next = 0
        for (i, j) in owner.enumerated() {
            if rank[Int(j)] >= 0 {
                slots[i] = -1 - offset[Int(j)]
                offset[Int(j)] += 1
            } else {
                slots[i] = next
                next += 1
            }
        }
        (self.slots, wordPixels, seedLengths, seedRank) = (slots, next, lengths, rank)
    }

    var seededValues: Int { seedLengths.count }

    /// Bytes of the keys the helper sends each party for its transfers.
    func keyBytes(_ ring: Ring) -> Int { ring.bytes * wordPixels + CostModel.seedBytes * seededValues }

    /// Per pixel, its key word: its own, or the next word of its value's stretched seed.
    func pads(_ keys: ChosenKeys) -> [UInt64] {
        let stretched = PRG.expand(seeds: keys.seeds, lengths: seedLengths)
        return slots.map { $0 >= 0 ? keys.words[$0] : stretched[-1 - $0] }
    }

    /// The keys `choice` picks from a sender's pairs: per pixel (word keys) or per value
    /// (seeds), the one of index equal to the owner's choice bit.
    func chosen(_ keys: TransferKeys, by choice: [UInt64]) -> ChosenKeys {
        var words: [UInt64] = []
        words.reserveCapacity(wordPixels)
        for (i, slot) in slots.enumerated() where slot >= 0 {
            words.append(planeBit(choice, Int(owner[i])) == 1 ? keys.k1.words[slot] : keys.k0.words[slot])
        }
        var seeds = [UInt64](repeating: 0, count: 2 * seededValues)
        for j in 0..<values where seedRank[j] >= 0 {
            let r = Int(seedRank[j]), source = planeBit(choice, j) == 1 ? keys.k1.seeds : keys.k0.seeds
            (seeds[2 * r], seeds[2 * r + 1]) = (source[2 * r], source[2 * r + 1])
        }
        return ChosenKeys(words: words, seeds: seeds)
    }
}

/// Keys of one side of the transfers: a ring word per pixel with word keys, a 128-bit
/// seed (two words) per value that selects by seed.
struct ChosenKeys {
    var words: [UInt64]
    var seeds: [UInt64]
}

/// A sender's key pairs (K0, K1), drawn from the stream it shares with the helper.
struct TransferKeys {
    let k0: ChosenKeys, k1: ChosenKeys

    init(_ layout: SignLayout, _ prg: PRG) {
        let w0 = prg.words(layout.wordPixels), w1 = prg.words(layout.wordPixels)
        let s0 = prg.words(2 * layout.seededValues), s1 = prg.words(2 * layout.seededValues)
        (k0, k1) = (ChosenKeys(words: w0, seeds: s0), ChosenKeys(words: w1, seeds: s1))
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
