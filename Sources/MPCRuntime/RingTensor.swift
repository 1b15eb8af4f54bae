import Bytecode

/// A tensor over Z_2^64, row-major: plaintext fixed-point values in the emulator, one
/// party's shares in the runtime. Arithmetic wraps.
public struct RingTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [UInt64]

    public init(shape: [Int], values: [UInt64]) {
        precondition(shape.reduce(1, *) == values.count, "ring tensor data does not match its shape")
        self.shape = shape
        self.values = values
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, values: [UInt64](repeating: 0, count: shape.reduce(1, *)))
    }

    public var count: Int { values.count }
}

/// Fixed-point encoding: round(x * 2^bits) as a two's-complement ring element.
public enum FixedPoint {
    public static func encode(_ values: [Float], fracBits: Int) -> [UInt64] {
        let scale = Double(1 << fracBits)
        let limit = Double(Int64.max / 2)
        return values.map { value in
            let scaled = (Double(value) * scale).rounded()
            return UInt64(bitPattern: Int64(max(-limit, min(limit, scaled))))
        }
    }

    public static func decode(_ values: [UInt64], fracBits: Int) -> [Float] {
        let scale = 1 / Double(1 << fracBits)
        return values.map { Float(Double(Int64(bitPattern: $0)) * scale) }
    }

    /// Arithmetic shift right: exact truncation of plaintext values.
    public static func truncate(_ value: UInt64, _ bits: Int) -> UInt64 {
        UInt64(bitPattern: Int64(bitPattern: value) >> Int64(bits))
    }

    /// The DReLU [v > 0] as the parties compute it: the top bit of the compared window of
    /// -v (exact: the sign of -v).
    public static func isPositive(_ value: UInt64, _ comparison: Comparison) -> Bool {
        let negated = 0 &- value
        if comparison.bits == 64 { return negated >> 63 == 1 }
        let window = (negated >> UInt64(comparison.dropped)) & ((1 << UInt64(comparison.bits)) - 1)
        return window >> UInt64(comparison.bits - 1) == 1
    }
}
