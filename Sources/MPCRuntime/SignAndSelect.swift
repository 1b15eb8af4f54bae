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
    /// `owner[i]` is the value whose bit multiplies pixel i.
    func signAndSelect(values: [UInt64]?, pixels: [UInt64]?, owner: [Int32], valueCount n: Int, comparison: Comparison) throws -> [UInt64]? {
        let m = owner.count
        guard n > 0 else { return role == .helper ? nil : pixels }
        let words = (n + 63) / 64
        let k = comparison.bits
        let leaves = k - 1
        let circuit = CostModel.ComparisonCircuit(bits: k)
        let feedCount = n + m + leaves * words + circuit.levels.reduce(0) { $0 + (2 * $1.withEqual + $1.withoutEqual) * words }

        if role == .helper {
            let client = shared[.client]!, server = shared[.server]!
            var feed: [UInt64] = []
            feed.reserveCapacity(feedCount)
            let rC = client.words(words), rAC = client.words(n), qC = client.words(m), rqC = client.words(m)
            let rS = server.words(words), qS = server.words(m)
            let r = zip(rC, rS).map { $0 ^ $1 }
            for j in 0..<n { feed.append(bit(r, j) &- rAC[j]) }
            for i in 0..<m { feed.append(bit(r, Int(owner[i])) &* (qC[i] &+ qS[i]) &- rqC[i]) }
            let u = client.words(leaves * words), wC = client.words(leaves * words), v = server.words(leaves * words)
            for index in 0..<(leaves * words) { feed.append((u[index] & v[index]) ^ wC[index]) }
            for level in circuit.levels {
                let pairs = (level.withEqual + level.withoutEqual) * words, equal = level.withEqual * words
                let aC = client.words(pairs), b1C = client.words(pairs), b2C = client.words(equal), g1C = client.words(pairs), g2C = client.words(equal)
                let aS = server.words(pairs), b1S = server.words(pairs), b2S = server.words(equal)
                for index in 0..<pairs { feed.append(((aC[index] ^ aS[index]) & (b1C[index] ^ b1S[index])) ^ g1C[index]) }
                for index in 0..<equal { feed.append(((aC[index] ^ aS[index]) & (b2C[index] ^ b2S[index])) ^ g2C[index]) }
            }
            try send(.server, feed)
            return nil
        }

        let isServer = role == .server
        let prg = shared[.helper]!
        let feed = isServer ? try receive(.helper, count: feedCount) : []
        var cursor = 0
        func take(_ count: Int) -> [UInt64] {
            defer { cursor += count }
            return Array(feed[cursor..<(cursor + count)])
        }
        // Masks for the selection (drawn first, in the helper's order).
        let r = prg.words(words)
        let (rA, q, rq): ([UInt64], [UInt64], [UInt64])
        if isServer {
            let serverQ = prg.words(m)
            (rA, q, rq) = (take(n), serverQ, take(m))
        } else {
            let clientRA = prg.words(n), clientQ = prg.words(m)
            (rA, q, rq) = (clientRA, clientQ, prg.words(m))
        }

        // Each party's window of u = -v: the low k-1 bits as planes (most significant
        // leaf first), and the top bit.
        let mask: UInt64 = k == 64 ? ~0 : (1 << UInt64(k)) - 1
        let windows = values!.map { ((0 &- $0) >> UInt64(comparison.dropped)) & mask }
        let top = planes(windows, bits: [k - 1], words: words)
        let low = planes(windows, bits: Array((0..<leaves).reversed()), words: words)

        // Round 1: leaves (generate g = a AND b with the helper's u, v, w) and F = p - q.
        let ownMask = prg.words(leaves * words)
        let clientW = isServer ? [] : prg.words(leaves * words)
        let masked = zip(low, ownMask).map { $0 ^ $1 }
        let pixelMask = zip(pixels!, q).map { $0 &- $1 }
        let theirs = try exchange(masked + pixelMask)
        let other = Array(theirs[0..<(leaves * words)])
        let f = zip(pixelMask, theirs[(leaves * words)...]).map { $0 &+ $1 }
        var generate: [UInt64]
        if isServer {
            let serverW = take(leaves * words)
            // d from the client, e our own: d e xor d v xor w_S.
            generate = (0..<(leaves * words)).map { (other[$0] & masked[$0]) ^ (other[$0] & ownMask[$0]) ^ serverW[$0] }
        } else {
            // u e xor w_C.
            generate = (0..<(leaves * words)).map { (ownMask[$0] & other[$0]) ^ clientW[$0] }
        }
        var propagate = low

        // The tree: (G, P) of adjacent pairs, high node first.
        var nodes = leaves
        for level in circuit.levels {
            let pairs = level.withEqual + level.withoutEqual, equal = level.withEqual
            let alpha = prg.words(pairs * words), beta1 = prg.words(pairs * words), beta2 = prg.words(equal * words)
            let gamma1 = isServer ? take(pairs * words) : prg.words(pairs * words)
            let gamma2 = isServer ? take(equal * words) : prg.words(equal * words)
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
                    if pair < equal {
                        let e2 = opened[2 * pairs * words + at]
                        var and2 = gamma2[at] ^ (d & beta2[at]) ^ (e2 & alpha[at])
                        if isServer { and2 ^= d & e2 }
                        nextPropagate.append(and2)
                    } else {
                        nextPropagate.append(0)  // contains bit 0: never needed
                    }
                }
            }
            if nodes % 2 == 1 {
                nextGenerate += generate[((nodes - 1) * words)...]
                nextPropagate += propagate[((nodes - 1) * words)...]
            }
            (generate, propagate) = (nextGenerate, nextPropagate)
            nodes -= pairs
        }

        // The bit: top bits xor carry; open t = bit xor r.
        let bitShare = (0..<words).map { top[$0] ^ generate[$0] ^ r[$0] }
        let t = zip(bitShare, try exchange(bitShare)).map { $0 ^ $1 }
        var result = [UInt64](repeating: 0, count: m)
        let own = pixels!
        for i in 0..<m {
            let j = Int(owner[i])
            let x = rA[j] &* f[i] &+ rq[i]
            result[i] = bit(t, j) == 1 ? own[i] &+ (0 &- x) : x
        }
        return result
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
