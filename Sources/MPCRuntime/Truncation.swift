import Bytecode

/// Truncation that never wraps (Runtime/PROTOCOLS.md, "trunc"), for x in Z_2^n (n = 64
/// or 32) and a result in either ring. The helper deals r with client and server shares,
/// and shares of r_h = (r mod 2^(n-1)) >> b and of r's top bit r_m. Client and server
/// open c = x + 2^(n-2) + r mod 2^n to each other; while |x| < 2^(n-2) the shifted value
/// x' = x + 2^(n-2) lies in [0, 2^(n-1)), so over the integers
/// x' = (c mod 2^(n-1)) - (r mod 2^(n-1)) + 2^(n-1) w with w = c_m xor r_m
/// = c_m + (1 - 2 c_m) r_m, linear in the shared r_m. Shifting each part by b gives
/// floor(x / 2^b), or one more when the low b bits of c are below r's (probability
/// (x mod 2^b) / 2^b); an exact truncation adds 2^(b-1) first (rounding to nearest),
/// finds that carry by sign-and-select on r_l - c_l (r_l = r mod 2^b, shared by the
/// helper too) and subtracts it. The result is
/// an integer formula, so it lands in either ring: with b = 0 this widens Z_2^32 to Z_2^64.
extension Party {
    func truncate(_ x: RingTensor?, _ op: Trunc, shape: [Int], from: Ring, to: Ring) throws -> RingTensor? {
        let count = shape.reduce(1, *)
        let exact = op.carryComparison != nil
        let parts = exact ? 3 : 2
        let pair = TruncationPair(ring: from, bits: op.bits)
        if role == .helper {
            try send(.server, dealTruncation(pair, count: count, exact: exact), ring: to)
            if let comparison = op.carryComparison {
                _ = try signAndSelect(values: nil, pixels: nil, owner: (0..<count).map(Int32.init), valueCount: count, comparison: comparison, ring: to)
            }
            return nil
        }
        if op.followsLinearLayer(in: program) { return try truncateAfterLinear(x!, op, shape: shape, from: from, to: to) }
        // Draw order mirrors the helper's: r_C, r_h_C, r_m_C (and r_l_C) from PRG_CH;
        // r_S from PRG_SH.
        let prg = shared[.helper]!
        let isClient = role == .client
        let r = prg.words(count)
        let dealt = isClient ? prg.words(parts * count) : try receive(.helper, count: parts * count, ring: to)
        let (high, top) = (dealt[0..<count], dealt[count..<(2 * count)])
        // Exact: the client also adds 2^(b-1), so rounding down lands on the nearest.
        let offset = isClient ? pair.offset &+ (exact ? FixedPoint.roundingOffset(op.bits) : 0) : 0
        let masked = zip(x!.values, r).map { $0 &+ offset &+ $1 }
        let c = zip(masked, try exchange(masked, ring: from)).map { ($0 &+ $1) & pair.mask }
        var out = [UInt64](repeating: 0, count: count)
        for i in 0..<count {
            let cTop = c[i] >> UInt64(from.bits - 1)
            // The public part (c_h + k c_m - 2^(n-2-b)) is the client's to add.
            let open = isClient ? pair.publicPart(c[i]) : 0
            out[i] = open &- high[i] &+ pair.k &* (1 &- 2 &* cTop) &* top[count + i]
        }
        guard let comparison = op.carryComparison else { return RingTensor(shape: shape, values: out) }
        // The carry [c_l < r_l] = [r_l - c_l > 0]: c_l is public, the client subtracts it.
        let low = dealt[(2 * count)...]
        let difference = (0..<count).map { low[2 * count + $0] &- (isClient ? c[$0] & pair.lowMask : 0) }
        let one = [UInt64](repeating: isClient ? 1 : 0, count: count)
        let carry = try signAndSelect(values: difference, pixels: one, owner: (0..<count).map(Int32.init), valueCount: count, comparison: comparison, ring: to)!
        return RingTensor(shape: shape, values: zip(out, carry).map { $0 &- $1 })
    }

    /// The client's offline message for a truncation of a linear layer's result:
    /// x_C + 2^(n-2) + r_C, r_C the first draw of the instruction's stream.
    func sendTruncationShare(_ x: [UInt64], _ op: Trunc, from: Ring, to: Ring, prg: PRG) throws {
        let pair = TruncationPair(ring: from, bits: op.bits)
        let r = prg.words(x.count)
        try send(.server, zip(x, r).map { $0 &+ pair.offset &+ $1 }, ring: from, offline: true)
    }

    /// The truncation of a linear layer's result: the client's masked value came offline
    /// (or comes now, when this inference was not prepared); the server opens c and
    /// returns only c's top bit, which is all the client's share needs.
    private func truncateAfterLinear(_ x: RingTensor, _ op: Trunc, shape: [Int], from: Ring, to: Ring) throws -> RingTensor {
        let count = shape.reduce(1, *)
        let pair = TruncationPair(ring: from, bits: op.bits)
        let prg = shared[.helper]!
        let topShift = UInt64(from.bits - 1)
        var out = [UInt64](repeating: 0, count: count)
        current.rounds += 1
        if role == .client {
            if active!.prepared { _ = prg.words(count) } else { try sendTruncationShare(x.values, op, from: from, to: to, prg: prg) }
            let dealt = prg.words(2 * count)
            let tops = try receive(.server, count: (count + 63) / 64)
            for i in 0..<count {
                let cTop = (tops[i >> 6] >> UInt64(i & 63)) & 1
                out[i] = (0 &- dealt[i]) &+ pair.k &* (1 &- 2 &* cTop) &* dealt[count + i]
            }
            return RingTensor(shape: shape, values: out)
        }
        let r = prg.words(count)
        let dealt = try receive(.helper, count: 2 * count, ring: to)
        let theirs = try receive(.client, count: count, ring: from, offline: true)
        var tops = [UInt64](repeating: 0, count: (count + 63) / 64)
        for i in 0..<count {
            let c = (theirs[i] &+ x.values[i] &+ r[i]) & pair.mask
            let cTop = c >> topShift
            tops[i >> 6] |= cTop << UInt64(i & 63)
            out[i] = pair.publicPart(c) &- dealt[i] &+ pair.k &* (1 &- 2 &* cTop) &* dealt[count + i]
        }
        try send(.client, tops)
        return RingTensor(shape: shape, values: out)
    }

    /// The helper's r_h - r_h_C, r_m - r_m_C (and r_l - r_l_C) for the server, `count`
    /// words each.
    private func dealTruncation(_ pair: TruncationPair, count: Int, exact: Bool) -> [UInt64] {
        let client = shared[.client]!, server = shared[.server]!
        let rC = client.words(count)
        let clientParts = client.words((exact ? 3 : 2) * count)
        let rS = server.words(count)
        var feed = [UInt64](repeating: 0, count: clientParts.count)
        for i in 0..<count {
            let r = (rC[i] &+ rS[i]) & pair.mask
            feed[i] = ((r & pair.lowHalf) >> pair.b) &- clientParts[i]
            feed[count + i] = (r >> UInt64(pair.ring.bits - 1)) &- clientParts[count + i]
            if exact { feed[2 * count + i] = (r & pair.lowMask) &- clientParts[2 * count + i] }
        }
        return feed
    }
}

/// The constants of a truncation by b bits of a value in `ring` (n bits).
struct TruncationPair {
    let ring: Ring
    let b: UInt64
    /// 2^n - 1, 2^(n-1) - 1 and 2^b - 1.
    let mask: UInt64, lowHalf: UInt64, lowMask: UInt64
    /// The public shift 2^(n-2) that makes |x| < 2^(n-2) positive.
    let offset: UInt64
    /// 2^(n-1-b): the weight of the wrap bit after the shift.
    let k: UInt64

    init(ring: Ring, bits: Int) {
        self.ring = ring
        b = UInt64(bits)
        let n = UInt64(ring.bits)
        mask = n == 64 ? ~0 : (1 << n) - 1
        lowHalf = (1 << (n - 1)) - 1
        lowMask = (1 << b) - 1
        offset = 1 << (n - 2)
        k = 1 << (n - 1 - b)
    }

    /// The client's public part of the result: (c mod 2^(n-1)) >> b + k c_m - 2^(n-2-b).
    func publicPart(_ c: UInt64) -> UInt64 {
        ((c & lowHalf) >> b) &+ k &* (c >> UInt64(ring.bits - 1)) &- (offset >> b)
    }
}
