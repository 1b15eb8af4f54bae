import Bytecode

/// Truncation that never wraps (Runtime/PROTOCOLS.md, "trunc"). The helper deals r with
/// client and server shares, and shares of r_h = (r mod 2^63) >> b and of r's top bit
/// r_m. Client and server open c = x + 2^62 + r to each other; while |x| < 2^62 the
/// shifted value x' = x + 2^62 lies in [0, 2^63), so over the integers
/// x' = (c mod 2^63) - (r mod 2^63) + 2^63 w with w = c_m xor r_m = c_m + (1 - 2 c_m) r_m,
/// linear in the shared r_m. Shifting each part by b gives floor(x / 2^b), or one more
/// when the low b bits of c are below r's (probability (x mod 2^b) / 2^b).
extension Party {
    func truncate(_ x: RingTensor?, bits: Int, shape: [Int]) throws -> RingTensor? {
        let count = shape.reduce(1, *)
        if role == .helper {
            try send(.server, dealTruncation(count: count, bits: bits))
            return nil
        }
        // Draw order mirrors the helper's: r_C, r_h_C, r_m_C from PRG_CH; r_S from PRG_SH.
        let prg = shared[.helper]!
        let isClient = role == .client
        let r = prg.words(count)
        let (high, top): ([UInt64], [UInt64])
        if isClient {
            high = prg.words(count)
            top = prg.words(count)
        } else {
            let feed = try receive(.helper, count: 2 * count)
            (high, top) = (Array(feed[0..<count]), Array(feed[count...]))
        }
        let offset: UInt64 = isClient ? 1 << 62 : 0
        let masked = zip(x!.values, r).map { $0 &+ offset &+ $1 }
        let c = zip(masked, try exchange(masked)).map { $0 &+ $1 }
        let b = UInt64(bits)
        let k: UInt64 = 1 << (63 - b)
        let unshift: UInt64 = 1 << (62 - b)
        var out = [UInt64](repeating: 0, count: count)
        for i in 0..<count {
            let cTop = c[i] >> 63
            // The public part (c_h + k c_m - 2^(62-b)) is the client's to add.
            let open = isClient ? ((c[i] & ~(1 << 63)) >> b) &+ k &* cTop &- unshift : 0
            out[i] = open &- high[i] &+ k &* (1 &- 2 &* cTop) &* top[i]
        }
        return RingTensor(shape: shape, values: out)
    }

    /// The helper's r_h - r_h_C and r_m - r_m_C for the server, `count` words each.
    private func dealTruncation(count: Int, bits: Int) -> [UInt64] {
        let client = shared[.client]!, server = shared[.server]!
        let rC = client.words(count), highC = client.words(count), topC = client.words(count)
        let rS = server.words(count)
        var feed = [UInt64](repeating: 0, count: 2 * count)
        for i in 0..<count {
            let r = rC[i] &+ rS[i]
            feed[i] = ((r & ~(1 << 63)) >> UInt64(bits)) &- highC[i]
            feed[count + i] = (r >> 63) &- topC[i]
        }
        return feed
    }
}
