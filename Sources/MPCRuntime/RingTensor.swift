import Bytecode

/// A tensor over Z_2^64 (or Z_2^32, as canonical words), row-major: plaintext fixed-point values in the emulator, one
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

    /// Every word made canonical in `ring` (`Ring.canonical`).
    public mutating func canonicalize(_ ring: Ring) { ring.canonicalize(&values) }
}
