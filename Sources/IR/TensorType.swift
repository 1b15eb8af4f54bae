/// Element types that appear in the IR. Activations are always `f32`; `i64` appears
/// only in constants (shape arithmetic) and in the result of a final `argmax`.
public enum DType: String, Sendable, Hashable, CaseIterable {
    case f32
    case i64
}

/// The static type of an SSA value: element type and a fully known shape.
public struct TensorType: Sendable, Hashable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]

    public init(_ dtype: DType, _ shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }

    public var rank: Int { shape.count }
    public var elementCount: Int { shape.reduce(1, *) }

    /// `f32[1,3,32,32]`; a scalar is `f32[]`.
    public var description: String {
        "\(dtype.rawValue)[\(shape.map(String.init).joined(separator: ","))]"
    }
}

extension Array where Element == Int {
    /// Product of the elements, or nil when it overflows or an element is negative:
    /// shapes come from untrusted files and must not trap.
    public var checkedProduct: Int? {
        var product = 1
        for dim in self {
            guard dim >= 0 else { return nil }
            let (result, overflow) = product.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            product = result
        }
        return product
    }
}
