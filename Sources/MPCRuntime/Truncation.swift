import Bytecode

/// Truncation that never wraps (Runtime/PROTOCOLS.md, "trunc"). The helper deals r with
/// client and server shares, and shares of r_h = (r mod 2^63) >> b and of r's top bit
/// r_m. Client and server open c = x + 2^62 + r to each other; while |x| < 2^62 the
/// shifted value x' = x + 2^62 lies in [0, 2^63), so over the integers
/// x' = (c mod 2^63) - (r mod 2^63) + 2^63 w with w = c_m xor r_m = c_m + (1 - 2 c_m) r_m,
/// linear in the shared r_m. Shifting each part by b gives floor(x / 2^b), or one more
/// when the low b bits of c are below r's (probability (x mod 2^b) / 2^b); an exact
/// truncation finds that carry by sign-and-select on r_l - c_l (r_l = r mod 2^b, shared
/// by the helper too) and subtracts it.
extension Party {
    func truncate(_ x: RingTensor?, _ op: Trunc, shape: [Int]) throws -> RingTensor? {
        let count = shape.reduce(1, *)
        let exact = op.carryComparison != nil
        if role == .helper {
            try send(.server, dealTruncation(count: count, bits: op.bits, exact: exact))
            if let comparison = op.carryComparison {
                _ = try signAndSelect(values: nil, pixels: nil, owner: (0..<count).map(Int32.init), valueCount: count, comparison: comparison)
            }
            return nil
        }
        // Draw order mirrors the helper's: r_C, r_h_C, r_m_C (and r_l_C) from PRG_CH;
        // r_S from PRG_SH.
        let prg = shared[.helper]!
        let isClient = role == .client
        let r = prg.words(count)
        let parts = exact ? 3 : 2
        let dealt = isClient ? prg.words(parts * count) : try receive(.helper, count: parts * count)
        let (high, top) = (dealt[0..<count], dealt[count..<(2 * count)])
        let offset: UInt64 = isClient ? 1 << 62 : 0
        let masked = zip(x!.values, r).map { $0 &+ offset &+ $1 }
        let c = zip(masked, try exchange(masked)).map { $0 &+ $1 }
        let b = UInt64(op.bits)
        let k: UInt64 = 1 << (63 - b)
        let unshift: UInt64 = 1 << (62 - b)
        var out = [UInt64](repeating: 0, count: count)
        for i in 0..<count {
            let cTop = c[i] >> 63
            // The public part (c_h + k c_m - 2^(62-b)) is the client's to add.
            let open = isClient ? ((c[i] & ~(1 << 63)) >> b) &+ k &* cTop &- unshift : 0
            out[i] = open &- high[i] &+ k &* (1 &- 2 &* cTop) &* top[count + i]
        }
        guard let comparison = op.carryComparison else { return RingTensor(shape: shape, values: out) }
        // The carry [c_l < r_l] = [r_l - c_l > 0]: c_l is public, the client subtracts it.
        let lowMask: UInt64 = (1 << b) - 1
        let low = dealt[(2 * count)...]
        let difference = (0..<count).map { low[2 * count + $0] &- (isClient ? c[$0] & lowMask : 0) }
        let one = [UInt64](repeating: isClient ? 1 : 0, count: count)
        let carry = try signAndSelect(values: difference, pixels: one, owner: (0..<count).map(Int32.init), valueCount: count, comparison: comparison)!
        return RingTensor(shape: shape, values: zip(out, carry).map { $0 &- $1 })
    }

    /// The helper's r_h - r_h_C, r_m - r_m_C (and r_l - r_l_C) for the server, `count`
    /// words each.
    private func dealTruncation(count: Int, bits: Int, exact: Bool) -> [UInt64] {
        let client = shared[.client]!, server = shared[.server]!
        let rC = client.words(count)
        let clientParts = client.words((exact ? 3 : 2) * count)
        let rS = server.words(count)
        var feed = [UInt64](repeating: 0, count: clientParts.count)
        let lowMask: UInt64 = (1 << UInt64(bits)) - 1
        for i in 0..<count {
            let r = rC[i] &+ rS[i]
            feed[i] = ((r & ~(1 << 63)) >> UInt64(bits)) &- clientParts[i]
            feed[count + i] = (r >> 63) &- clientParts[count + i]
            if exact { feed[2 * count + i] = (r & lowMask) &- clientParts[2 * count + i] }
        }
        return feed
    }
}
