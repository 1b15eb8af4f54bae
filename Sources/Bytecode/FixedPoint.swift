/// Fixed-point encoding: round(x * 2^bits) as a two's-complement Z_2^64 element. One
/// encoder and one limit for everything that enters the ring: the compiler's weights and
/// public constants (which must fit, or compilation fails) and the client's input (which
/// is clamped to it).
public enum FixedPoint {
    /// Encoded magnitudes stay below 2^61: a sum or difference of two encoded values, or
    /// a value with a patch's worth of neighbours, is still far from wrapping.
    public static let limit = Double(Int64.max / 4)

    /// round(value * 2^fracBits), or nil when that is not finite or not below `limit`.
    public static func encode(_ value: Float, fracBits: Int) -> Int64? {
        let scaled = (Double(value) * Double(1 << fracBits)).rounded()
        guard scaled.isFinite, abs(scaled) < limit else { return nil }
        return Int64(scaled)
    }

    /// The client's input within `range` (nil: unchanged), and how many values were
    /// outside it. NaN counts as outside and becomes the range's lower bound.
    public static func clamped(_ values: [Float], to range: ClosedRange<Float>?) -> (values: [Float], outside: Int) {
        guard let range else { return (values, 0) }
        var outside = 0
        let result = values.map { value -> Float in
            if range.contains(value) { return value }
            outside += 1
            return value > range.upperBound ? range.upperBound : range.lowerBound
        }
        return (result, outside)
    }

    /// The client's input as ring elements, each clamped to ±`limit`.
    public static func encode(_ values: [Float], fracBits: Int) -> [UInt64] {
        let scale = Double(1 << fracBits)
        return values.map { value in
            let scaled = (Double(value) * scale).rounded()
            return UInt64(bitPattern: Int64(max(-limit, min(limit, scaled))))
        }
    }

    public static func decode(_ values: [UInt64], fracBits: Int) -> [Float] {
        let scale = 1 / Double(1 << fracBits)
        return values.map { Float(Double(Int64(bitPattern: $0)) * scale) }
    }

    /// Plaintext truncation by `bits`, rounding to nearest (halves up):
    /// floor((x + 2^(bits-1)) / 2^bits), what an exact `trunc` computes. (A stochastic one
    /// rounds down or up with the expected value x / 2^bits, so it is within one unit.)
    public static func truncate(_ value: UInt64, _ bits: Int) -> UInt64 {
        UInt64(bitPattern: Int64(bitPattern: value &+ roundingOffset(bits)) >> Int64(bits))
    }

    /// 2^(bits-1), or 0 for bits = 0: added before an exact truncation rounds down.
    public static func roundingOffset(_ bits: Int) -> UInt64 { bits == 0 ? 0 : 1 << UInt64(bits - 1) }

    /// The DReLU [v > 0] as the parties compute it: the top bit of the compared window of
    /// -v (exact: the sign of -v).
    public static func isPositive(_ value: UInt64, _ comparison: Comparison) -> Bool {
        let negated = 0 &- value
        if comparison.bits == 64 { return negated >> 63 == 1 }
        let window = (negated >> UInt64(comparison.dropped)) & ((1 << UInt64(comparison.bits)) - 1)
        return window >> UInt64(comparison.bits - 1) == 1
    }
}

/// The ring of a shared register. Registers live in UInt64 words either way; a Z_2^32
/// register's word is the sign extension of its low 32 bits (`canonical`), so a value that
/// fits has the same word in both rings and plaintext rules (shifts, signs, decoding)
/// read it unchanged. Messages carry `bytes` per element.
public enum Ring: Int, Sendable, CaseIterable {
    case z64 = 64, z32 = 32

    public var bits: Int { rawValue }
    public var bytes: Int { rawValue / 8 }

    /// The canonical word of `value` mod 2^bits.
    @inline(__always)
    public func canonical(_ value: UInt64) -> UInt64 {
        self == .z64 ? value : UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: value)))
    }

    /// Every word made canonical.
    public func canonicalize(_ values: inout [UInt64]) {
        guard self == .z32 else { return }
        for index in values.indices { values[index] = canonical(values[index]) }
    }

    /// Whether fixed-point magnitudes below 2^`magnitudeBits` fit with a truncation's
    /// headroom (its protocol adds 2^(bits - 2)).
    public func holds(magnitudeBits: Int) -> Bool { magnitudeBits <= bits - 2 }
}

/// Hexadecimal text of bytes (keys, hashes) and back.
public enum Hex {
    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
    }

    /// The bytes of an even-length hex string, or nil.
    public static func bytes(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: characters.count, by: 2) {
            guard let byte = UInt8(String(decoding: characters[index..<(index + 2)], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
