import SharedKernels

/// The closed set of IR operations. Every op has exactly one result. Operands are SSA
/// values; weights are values produced by `constant` ops. IR/README.md documents each op.
public enum Op: Sendable, Equatable {
    /// Constant data (weights, biases, folded shapes). No operands.
    case constant(Tensor)
    /// 2-D convolution: (x[N,C,H,W], w[M,C/group,kh,kw], b[M]?) -> [N,M,OH,OW].
    case conv(Conv2D)
    /// Fully connected layer over the last axis: (x[...,K], w[N,K], b[N]?) -> [...,N],
    /// y = x * w^T + b. Gemm and MatMul with a constant operand import as this.
    case dense
    /// Inference batch normalization over axis 1: (x, scale, bias, mean, var).
    case batchNorm(epsilon: Float)
    /// max(x, 0): one DReLU per element.
    case relu
    /// min(max(x, 0), 6): two comparisons per element.
    case relu6
    /// min(max(x, min), max) with other bounds (either may be infinite).
    case clip(min: Float, max: Float)
    /// Block ReLU (README.md, Method): per channel, one sign decision per patch.
    case blockReLU(BlockReLUPlan)
    case maxPool(Pool2D)
    case avgPool(Pool2D)
    /// Mean over all axes after the first two: [N,C,...] -> [N,C,1,...,1].
    case globalAvgPool
    /// Elementwise with NumPy broadcasting.
    case add, sub, mul, div
    /// Same data, new static shape.
    case reshape(shape: [Int])
    case transpose(perm: [Int])
    /// Strided window: result[i] = x[start + i * step] along each axis, `sizes[axis]`
    /// elements. Steps may be negative.
    case slice(starts: [Int], steps: [Int], sizes: [Int])
    case concat(axis: Int)
    /// Constant padding with a public value; `pads` holds the begin amounts of every
    /// axis, then the end amounts.
    case pad(pads: [Int], value: Float)
    case resize(Resize)
    /// Passes its operand through (Identity, inference Dropout); removed by a pass.
    case identity
    /// Softmax over one axis (a final op: runs at the client after the reveal).
    case softmax(axis: Int)
    /// Index of the maximum along an axis, as i64 (a final op).
    case argMax(ArgMax)

    /// The stable lower-case mnemonic used by the printer and in diagnostics.
    public var mnemonic: String { kind.rawValue }

    /// Every mnemonic, for documentation and parsing.
    public static let allMnemonics: [String] = Kind.allCases.map(\.rawValue)

    /// The op without its attributes; its raw value is the mnemonic.
    public enum Kind: String, Sendable, CaseIterable {
        case constant, conv, dense
        case batchNorm = "batch_norm"
        case relu, relu6, clip
        case blockReLU = "block_relu"
        case maxPool = "max_pool"
        case avgPool = "avg_pool"
        case globalAvgPool = "global_avg_pool"
        case add, sub, mul, div, reshape, transpose, slice, concat, pad, resize, identity, softmax
        case argMax = "argmax"
    }

    public var kind: Kind {
        switch self {
        case .constant: return .constant
        case .conv: return .conv
        case .dense: return .dense
        case .batchNorm: return .batchNorm
        case .relu: return .relu
        case .relu6: return .relu6
        case .clip: return .clip
        case .blockReLU: return .blockReLU
        case .maxPool: return .maxPool
        case .avgPool: return .avgPool
        case .globalAvgPool: return .globalAvgPool
        case .add: return .add
        case .sub: return .sub
        case .mul: return .mul
        case .div: return .div
        case .reshape: return .reshape
        case .transpose: return .transpose
        case .slice: return .slice
        case .concat: return .concat
        case .pad: return .pad
        case .resize: return .resize
        case .identity: return .identity
        case .softmax: return .softmax
        case .argMax: return .argMax
        }
    }
}

/// Attributes of a 2-D convolution. The kernel size comes from the weight's shape.
public struct Conv2D: Sendable, Hashable {
    public var strides: [Int]  // [sh, sw]
    public var pads: [Int]  // [top, left, bottom, right]
    public var dilations: [Int]  // [dh, dw]
    public var group: Int

    public init(strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0], dilations: [Int] = [1, 1], group: Int = 1) {
        self.strides = strides
        self.pads = pads
        self.dilations = dilations
        self.group = group
    }
}

/// Attributes of max and average pooling over the last two axes.
public struct Pool2D: Sendable, Hashable {
    public var kernel: [Int]  // [kh, kw]
    public var strides: [Int]  // [sh, sw]
    public var pads: [Int]  // [top, left, bottom, right]
    public var dilations: [Int]  // [dh, dw]
    /// Output size rounds up; a window that would start inside the end padding is dropped.
    public var ceilMode: Bool
    /// Average pooling only: whether padded positions count in the divisor.
    public var countIncludePad: Bool

    public init(
        kernel: [Int], strides: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0], dilations: [Int] = [1, 1],
        ceilMode: Bool = false, countIncludePad: Bool = false
    ) {
        self.kernel = kernel
        self.strides = strides
        self.pads = pads
        self.dilations = dilations
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }
}

/// Attributes of `resize`: interpolation with public coefficients to a static size.
public struct Resize: Sendable, Hashable {
    public enum Mode: String, Sendable, CaseIterable { case nearest, linear }

    /// How an output coordinate maps to an input coordinate (ONNX's names).
    public enum CoordinateMode: String, Sendable, CaseIterable {
        case halfPixel = "half_pixel"
        case halfPixelSymmetric = "half_pixel_symmetric"
        case pytorchHalfPixel = "pytorch_half_pixel"
        case alignCorners = "align_corners"
        case asymmetric
        case tfHalfPixelForNearest = "tf_half_pixel_for_nearest"
    }

    /// How `nearest` rounds a fractional input coordinate (ONNX's names). `legacy` is
    /// Upsample / Resize-10 behaviour: truncation, rounding up when downsampling.
    public enum NearestMode: String, Sendable, CaseIterable {
        case roundPreferFloor = "round_prefer_floor"
        case roundPreferCeil = "round_prefer_ceil"
        case floor
        case ceil
        case legacy
    }

    public var mode: Mode
    public var coordinateMode: CoordinateMode
    public var nearestMode: NearestMode
    /// Scale per axis used for coordinate mapping (output = input * scale, given or derived).
    public var scales: [Float]
    /// Output shape.
    public var sizes: [Int]

    public init(mode: Mode, coordinateMode: CoordinateMode, nearestMode: NearestMode, scales: [Float], sizes: [Int]) {
        self.mode = mode
        self.coordinateMode = coordinateMode
        self.nearestMode = nearestMode
        self.scales = scales
        self.sizes = sizes
    }
}

public struct ArgMax: Sendable, Hashable {
    public var axis: Int
    public var keepDims: Bool
    public var selectLastIndex: Bool

    public init(axis: Int, keepDims: Bool, selectLastIndex: Bool) {
        self.axis = axis
        self.keepDims = keepDims
        self.selectLastIndex = selectLastIndex
    }
}

/// Block size of one channel of a block ReLU (`2x3`, `id`, `zero`). The type lives in
/// SharedKernels, with the patch walk every block-ReLU kernel uses.
public typealias BlockSize = SharedKernels.BlockSize

/// The per-channel block sizes of one block ReLU layer.
public struct BlockReLUPlan: Sendable, Hashable {
    public var blocks: [BlockSize]

    public init(blocks: [BlockSize]) {
        self.blocks = blocks
    }
}
