/// What kind of computation an op is. `Op.Kind.group` is the one place that puts each op
/// in a group; the properties below derive from it, so a new op needs one decision there
/// (and the exhaustive switches elsewhere force the rest).
public enum OpGroup: String, Sendable, CaseIterable {
    /// `constant`: data, no operands.
    case constant
    /// `conv`, `dense`, `batch_norm`: affine in the data operand, weights constant.
    case linear
    /// `relu`, `relu6`, `clip`, `block_relu`: the ReLU layers, a sign decision per
    /// element (or per patch), which is what costs DReLUs in a secure evaluation.
    case activation
    /// `max_pool`: comparisons within each window.
    case maxPooling
    /// `avg_pool`, `global_avg_pool`: window means with public divisors.
    case averaging
    /// `add`, `sub`, `mul`, `div` with broadcasting.
    case arithmetic
    /// `reshape`, `transpose`, `slice`: every result element is one operand element.
    case rearrangement
    /// `concat`, `pad`: operands joined, or public values placed around one.
    case assembly
    /// `resize`: interpolation with public coefficients.
    case interpolation
    /// `identity`: the operand itself (a pass removes it).
    case passThrough
    /// `argmax`: the index of the largest value along an axis (comparisons).
    case indexOfMaximum
    /// `softmax`: a final op the client may run on the revealed output.
    case epilogue
}

extension Op.Kind {
    public var group: OpGroup {
        switch self {
        case .constant: return .constant
        case .conv, .dense, .batchNorm: return .linear
        case .relu, .relu6, .clip, .blockReLU: return .activation
        case .maxPool: return .maxPooling
        case .avgPool, .globalAvgPool: return .averaging
        case .add, .sub, .mul, .div: return .arithmetic
        case .reshape, .transpose, .slice: return .rearrangement
        case .concat, .pad: return .assembly
        case .resize: return .interpolation
        case .identity: return .passThrough
        case .argMax: return .indexOfMaximum
        case .softmax: return .epilogue
        }
    }
}

extension Op {
    public var group: OpGroup { kind.group }

    /// ReLU layers in the paper's sense: the ops block ReLUs replace or that cost
    /// comparisons per element.
    public var isReLULike: Bool { group == .activation }

    /// Whether the result is an affine function of the operands at positions `live`
    /// when the other operands are held fixed (the planner's test for a linear network
    /// suffix, where first-order estimates are exact).
    public func isAffine(inOperands live: [Int]) -> Bool {
        switch group {
        case .constant, .averaging, .rearrangement, .assembly, .interpolation, .passThrough:
            return true
        case .linear:
            // Weights and biases are constants; a computed weight makes it a product.
            return live == [0]
        case .arithmetic:
            // A product is affine while one factor is fixed, a quotient while the divisor is.
            if kind == .mul { return live.count == 1 }
            if kind == .div { return live == [0] }
            return true
        case .activation, .maxPooling, .indexOfMaximum, .epilogue:
            return false
        }
    }

    /// Whether the client may run this op on revealed outputs instead of it being
    /// computed securely: softmax and the single-operand, weightless data movement around
    /// it (resize, reshape, transpose, slice). Lowering moves a softmax at the end of the
    /// network, and such ops after it, to the client after the reveal: the softmax of the
    /// logits tells the client no more than the logits. Argmax is computed securely, so
    /// the client learns only the indices.
    public var mayRunAfterReveal: Bool {
        switch group {
        case .epilogue, .rearrangement, .interpolation:
            return true
        case .constant, .linear, .activation, .maxPooling, .indexOfMaximum, .averaging, .arithmetic, .assembly, .passThrough:
            return false
        }
    }
}
