/// Constant tensor data held by a `constant` op: weights, biases, and the results of
/// folded shape arithmetic. Row-major (C order).
public struct Tensor: Sendable, Equatable {
    public enum Storage: Sendable, Equatable {
        case f32([Float])
        case i64([Int64])
    }

    public var shape: [Int]
    public var storage: Storage

    /// Builds a float tensor; the element count must match the shape.
    public init(shape: [Int], floats: [Float]) {
        precondition(shape.checkedProduct == floats.count, "tensor data does not match its shape")
        self.shape = shape
        self.storage = .f32(floats)
    }

    /// Builds an int64 tensor; the element count must match the shape.
    public init(shape: [Int], ints: [Int64]) {
        precondition(shape.checkedProduct == ints.count, "tensor data does not match its shape")
        self.shape = shape
        self.storage = .i64(ints)
    }

    public static func scalar(_ value: Float) -> Tensor { Tensor(shape: [], floats: [value]) }

    public var dtype: DType {
        switch storage {
        case .f32: return .f32
        case .i64: return .i64
        }
    }

    public var type: TensorType { TensorType(dtype, shape) }
    public var elementCount: Int {
        switch storage {
        case .f32(let values): return values.count
        case .i64(let values): return values.count
        }
    }

    /// The data as floats (int64 values converted).
    public var floats: [Float] {
        switch storage {
        case .f32(let values): return values
        case .i64(let values): return values.map { Float($0) }
        }
    }

    /// The data as int64 (float values truncated toward zero; non-finite become 0).
    public var ints: [Int64] {
        switch storage {
        case .i64(let values): return values
        case .f32(let values): return values.map { $0.isFinite && abs($0) < 9.2e18 ? Int64($0) : 0 }
        }
    }

    /// Reinterprets the same data with another shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.checkedProduct == elementCount, "reshape must keep the element count")
        var copy = self
        copy.shape = newShape
        return copy
    }
}
