/// The instruction set. Each operation is one struct whose `visit` lists its fields in
/// order; that single definition drives the encoder, the decoder (with the ranges it
/// checks), the disassembler and the register checks (Runtime/BYTECODE.md).
///
/// Every instruction reads whole tensors from registers and writes one new register.
/// Registers in the `shared` domain hold Z_2^64 fixed-point values split between the
/// client and the server; `revealed` registers hold the client's plaintext float output
/// and only the client-side epilogue (softmax, argmax, resize) reads them.
public protocol Operation: Sendable {
    static var opcode: Opcode { get }
    init()
    mutating func visit<V: FieldVisitor>(_ visitor: inout V) throws
}

/// Reads, writes or prints one field of an operation.
public protocol FieldVisitor {
    mutating func operand(_ name: String, _ value: inout Int) throws
    mutating func operands(_ name: String, _ value: inout [Int]) throws
    mutating func weight(_ name: String, _ value: inout Int) throws
    mutating func optionalWeight(_ name: String, _ value: inout Int?) throws
    mutating func integer(_ name: String, _ value: inout Int, _ range: ClosedRange<Int>) throws
    mutating func integers(_ name: String, _ value: inout [Int], count: ClosedRange<Int>, _ range: ClosedRange<Int>) throws
    mutating func blocks(_ name: String, _ value: inout [BlockShape]) throws
    mutating func taps(_ name: String, _ value: inout [ResizeTap]) throws
}

/// One-byte operation codes. Numbers are part of the format: never reuse one.
public enum Opcode: UInt8, Sendable, CaseIterable {
    case input = 1, reveal, conv, dense, scale, addWeight, mul, add, sub, neg, addPublic, trunc
    case relu, blockReLU, maxPool, avgPool, globalAvgPool
    case reshape, transpose, slice, concat, pad, resize
    case softmax, argMax
    case constant

    public var mnemonic: String {
        switch self {
        case .input: return "input"
        case .reveal: return "reveal"
        case .conv: return "conv"
        case .dense: return "dense"
        case .scale: return "scale"
        case .addWeight: return "add_weight"
        case .mul: return "mul"
        case .add: return "add"
        case .sub: return "sub"
        case .neg: return "neg"
        case .addPublic: return "add_public"
        case .trunc: return "trunc"
        case .relu: return "relu"
        case .blockReLU: return "block_relu"
        case .maxPool: return "max_pool"
        case .avgPool: return "avg_pool"
        case .globalAvgPool: return "global_avg_pool"
        case .reshape: return "reshape"
        case .transpose: return "transpose"
        case .slice: return "slice"
        case .concat: return "concat"
        case .pad: return "pad"
        case .resize: return "resize"
        case .softmax: return "softmax"
        case .argMax: return "argmax"
        case .constant: return "constant"
        }
    }

    /// The struct that holds this operation's fields.
    public var type: any Operation.Type {
        switch self {
        case .input: return Input.self
        case .reveal: return Reveal.self
        case .conv: return Conv.self
        case .dense: return Dense.self
        case .scale: return Scale.self
        case .addWeight: return AddWeight.self
        case .mul: return Mul.self
        case .add: return Add.self
        case .sub: return Sub.self
        case .neg: return Neg.self
        case .addPublic: return AddPublic.self
        case .trunc: return Trunc.self
        case .relu: return ReLU.self
        case .blockReLU: return BlockReLU.self
        case .maxPool: return MaxPool.self
        case .avgPool: return AvgPool.self
        case .globalAvgPool: return GlobalAvgPool.self
        case .reshape: return Reshape.self
        case .transpose: return Transpose.self
        case .slice: return Slice.self
        case .concat: return Concat.self
        case .pad: return Pad.self
        case .resize: return Resize.self
        case .softmax: return Softmax.self
        case .argMax: return ArgMax.self
        case .constant: return Constant.self
        }
    }
}

/// Limits the decoder enforces on attribute values.
enum Limits {
    static let dimension = 1 << 30
    static let window = 1 << 16
    static let shiftBits = 0...62
    static let axis = 0...7
    static let comparedBits = 2...64
}

/// How a DReLU compares: the sign of the `bits`-bit window of each value that starts
/// `dropped` bits up. `bits == 64, dropped == 0` is the exact sign.
public struct Comparison: Sendable, Hashable {
    public var bits: Int
    public var dropped: Int
    public init(bits: Int = 64, dropped: Int = 0) {
        self.bits = bits
        self.dropped = dropped
    }
    public static let exact = Comparison()
    public var isExact: Bool { bits == 64 && dropped == 0 }

    mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.integer("bits", &bits, Limits.comparedBits)
        try v.integer("dropped", &dropped, 0...(64 - bits))
    }
}

/// The client's input, shared as (input, 0) between client and server.
public struct Input: Operation {
    public static let opcode = Opcode.input
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {}
}

/// A server weight as a shared tensor (server's share: the values; client's: zero), for
/// constants that enter the computation as data (e.g. concatenated).
public struct Constant: Operation {
    public static let opcode = Opcode.constant
    public var weight = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws { try v.weight("w", &weight) }
}

/// Opens a shared register to the client only, as float.
public struct Reveal: Operation {
    public static let opcode = Opcode.reveal
    public var x = 0
    public init() {}
    public init(_ x: Int) { self.x = x }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws { try v.operand("x", &x) }
}

/// 2-D convolution with the server's weight [M, C/group, kh, kw] and bias [M] (bias at
/// twice the fractional bits). The result has twice the fractional bits.
public struct Conv: Operation {
    public static let opcode = Opcode.conv
    public var x = 0, weight = 0
    public var bias: Int?
    public var strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1]
    public var group = 1
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.weight("w", &weight)
        try v.optionalWeight("b", &bias)
        try v.integers("strides", &strides, count: 2...2, 1...Limits.window)
        try v.integers("pads", &pads, count: 4...4, 0...Limits.window)
        try v.integers("dilations", &dilations, count: 2...2, 1...Limits.window)
        try v.integer("group", &group, 1...Limits.dimension)
    }
}

/// x[..., K] times the server's weight [N, K] transposed, plus bias [N].
public struct Dense: Operation {
    public static let opcode = Opcode.dense
    public var x = 0, weight = 0
    public var bias: Int?
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.weight("w", &weight)
        try v.optionalWeight("b", &bias)
    }
}

/// Elementwise product with a server weight, broadcast (NumPy rules).
public struct Scale: Operation {
    public static let opcode = Opcode.scale
    public var x = 0, weight = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.weight("w", &weight)
    }
}

/// Elementwise sum with a server weight, broadcast; the server adds it to its share.
public struct AddWeight: Operation {
    public static let opcode = Opcode.addWeight
    public var x = 0, weight = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.weight("w", &weight)
    }
}

/// Elementwise product of two shared tensors (broadcast).
public struct Mul: Operation {
    public static let opcode = Opcode.mul
    public var a = 0, b = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("a", &a)
        try v.operand("b", &b)
    }
}

public struct Add: Operation {
    public static let opcode = Opcode.add
    public var a = 0, b = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("a", &a)
        try v.operand("b", &b)
    }
}

public struct Sub: Operation {
    public static let opcode = Opcode.sub
    public var a = 0, b = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("a", &a)
        try v.operand("b", &b)
    }
}

public struct Neg: Operation {
    public static let opcode = Opcode.neg
    public var x = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws { try v.operand("x", &x) }
}

/// Adds a public fixed-point constant (the client adds it to its share).
public struct AddPublic: Operation {
    public static let opcode = Opcode.addPublic
    public var x = 0
    public var value = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("value", &value, Int(Int64.min)...Int(Int64.max))
    }
}

/// Arithmetic shift right by `bits` (drops fractional bits after a product).
public struct Trunc: Operation {
    public static let opcode = Opcode.trunc
    public var x = 0
    public var bits = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("bits", &bits, Limits.shiftBits)
    }
}

/// x where x > 0, else 0: one DReLU per element.
public struct ReLU: Operation {
    public static let opcode = Opcode.relu
    public var x = 0
    public var comparison = Comparison.exact
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try comparison.visit(&v)
    }
}

/// Block ReLU of an [N, C, H, W] tensor: per channel, patches tile the map from the top
/// left; a patch is kept where its sum is positive, else zeroed. One block per channel.
public struct BlockReLU: Operation {
    public static let opcode = Opcode.blockReLU
    public var x = 0
    public var blocks: [BlockShape] = []
    public var comparison = Comparison.exact
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.blocks("blocks", &blocks)
        try comparison.visit(&v)
    }
}

/// Window geometry shared by max and average pooling over the last two axes.
public struct Window: Sendable, Hashable {
    public var kernel = [1, 1], strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1]
    public var ceilMode = false
    public init() {}

    mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.integers("kernel", &kernel, count: 2...2, 1...Limits.window)
        try v.integers("strides", &strides, count: 2...2, 1...Limits.window)
        try v.integers("pads", &pads, count: 4...4, 0...Limits.window)
        try v.integers("dilations", &dilations, count: 2...2, 1...Limits.window)
        var ceil = ceilMode ? 1 : 0
        try v.integer("ceil", &ceil, 0...1)
        ceilMode = ceil == 1
    }
}

/// Max pooling by a tree of comparisons; padded positions repeat a valid one.
public struct MaxPool: Operation {
    public static let opcode = Opcode.maxPool
    public var x = 0
    public var window = Window()
    public var comparison = Comparison.exact
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try window.visit(&v)
        try comparison.visit(&v)
    }
}

/// Window sums times round(2^shift / divisor) per output position; the result carries
/// `shift` extra fractional bits (a trunc follows).
public struct AvgPool: Operation {
    public static let opcode = Opcode.avgPool
    public var x = 0
    public var window = Window()
    public var countIncludePad = false
    public var shift = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try window.visit(&v)
        var include = countIncludePad ? 1 : 0
        try v.integer("count_include_pad", &include, 0...1)
        countIncludePad = include == 1
        try v.integer("shift", &shift, Limits.shiftBits)
    }
}

/// Sum over all axes after the first two times round(2^shift / count).
public struct GlobalAvgPool: Operation {
    public static let opcode = Opcode.globalAvgPool
    public var x = 0
    public var shift = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("shift", &shift, Limits.shiftBits)
    }
}

/// Same elements, the result register's shape (shared or, in the epilogue, revealed).
public struct Reshape: Operation {
    public static let opcode = Opcode.reshape
    public var x = 0
    public init() {}
    public init(_ x: Int) { self.x = x }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws { try v.operand("x", &x) }
}

public struct Transpose: Operation {
    public static let opcode = Opcode.transpose
    public var x = 0
    public var perm: [Int] = []
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integers("perm", &perm, count: 0...8, Limits.axis)
    }
}

/// result[i] = x[start + i * step] per axis; the result register gives the sizes.
public struct Slice: Operation {
    public static let opcode = Opcode.slice
    public var x = 0
    public var starts: [Int] = [], steps: [Int] = []
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integers("starts", &starts, count: 0...8, 0...Limits.dimension)
        try v.integers("steps", &steps, count: 0...8, -Limits.dimension...Limits.dimension)
    }
}

public struct Concat: Operation {
    public static let opcode = Opcode.concat
    public var xs: [Int] = []
    public var axis = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operands("xs", &xs)
        try v.integer("axis", &axis, Limits.axis)
    }
}

/// Constant padding with a public fixed-point value; begin amounts of every axis, then
/// end amounts.
public struct Pad: Operation {
    public static let opcode = Opcode.pad
    public var x = 0
    public var pads: [Int] = []
    public var value = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integers("pads", &pads, count: 0...16, 0...Limits.dimension)
        try v.integer("value", &value, Int(Int64.min)...Int(Int64.max))
    }
}

/// Separable interpolation of the last two axes with public integer coefficients: each
/// output is sum over two rows and two columns of row weight x column weight x input,
/// weights out of 2^shift, so the result carries 2 x shift extra fractional bits on
/// shared registers. On revealed registers the same taps interpolate floats.
public struct Resize: Operation {
    public static let opcode = Opcode.resize
    public var x = 0
    public var rows: [ResizeTap] = [], columns: [ResizeTap] = []
    public var shift = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("shift", &shift, 0...15)
        try v.taps("rows", &rows)
        try v.taps("columns", &columns)
    }
}

/// Client epilogue on a revealed register.
public struct Softmax: Operation {
    public static let opcode = Opcode.softmax
    public var x = 0
    public var axis = 0
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("axis", &axis, Limits.axis)
    }
}

/// Client epilogue on a revealed register: indices as float.
public struct ArgMax: Operation {
    public static let opcode = Opcode.argMax
    public var x = 0
    public var axis = 0
    public var keepDims = true, selectLastIndex = false
    public init() {}
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("axis", &axis, Limits.axis)
        var flags = (keepDims ? 1 : 0) | (selectLastIndex ? 2 : 0)
        try v.integer("flags", &flags, 0...3)
        keepDims = flags & 1 != 0
        selectLastIndex = flags & 2 != 0
    }
}

/// Block size of one channel: [1,1] is a ReLU, [0,1] identity, [1,0] zero.
public struct BlockShape: Sendable, Hashable, CustomStringConvertible {
    public var height: Int
    public var width: Int
    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }
    public static let identity = BlockShape(0, 1)
    public static let zero = BlockShape(1, 0)
    public var isPatch: Bool { height > 0 && width > 0 }

    /// Patches on an H x W map (ceil mode from the top left); 0 for identity and zero.
    public func patches(height h: Int, width w: Int) -> Int {
        guard isPatch else { return 0 }
        return ((h + height - 1) / height) * ((w + width - 1) / width)
    }

    public var description: String {
        if self == .identity { return "id" }
        if self == .zero { return "zero" }
        return "\(height)x\(width)"
    }
}

/// One output coordinate of a resize: a blend of input positions index0 and index1 with
/// weight/2^shift on index1.
public struct ResizeTap: Sendable, Hashable {
    public var index0: Int
    public var index1: Int
    public var weight: Int
    public init(index0: Int, index1: Int, weight: Int) {
        self.index0 = index0
        self.index1 = index1
        self.weight = weight
    }
}
