// Linear layers with the server's weights: one protocol (Runtime/PROTOCOLS.md) whose
// weights setup masks once per session.

/// 2-D convolution with the server's weight [M, C/group, kh, kw] and bias [M] (bias at
/// twice the fractional bits). The result has twice the fractional bits.
public struct Conv: InstructionDefinition {
    public static let opcode = Opcode.conv
    public static let mnemonic = "conv"
    public static let kind = InstructionKind.interactive
    public static let summary = "x [N,C,H,W] * w [M,C/g,kh,kw] + b [M]; 2f bits"
    public var x = 0, weight = 0
    public var bias: Int?
    public var strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1]
    public var group = 1
    public init() {}
    public var operation: Operation { .conv(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.weight("w", &weight)
        try v.optionalWeight("b", &bias)
        try v.integers("strides", &strides, count: 2...2, 1...Limits.window)
        try v.integers("pads", &pads, count: 4...4, 0...Limits.window)
        try v.integers("dilations", &dilations, count: 2...2, 1...Limits.window)
        try v.integer("group", &group, 1...Limits.dimension)
    }
    public func verify(_ context: VerificationContext) throws {
        let input = context.shape(x), w = context.weightShape(weight)
        try context.expect(input.count == 4 && w.count == 4 && w.allSatisfy { $0 > 0 }, "conv needs a rank-4 input and a rank-4 weight without empty axes")
        try context.expect(input[1] % group == 0 && w[0] % group == 0 && w[1] * group == input[1], "weight \(w) does not fit input \(input) with group \(group)")
        if let bias { try context.expect(context.weightShape(bias) == [w[0]], "bias shape \(context.weightShape(bias)) is not [\(w[0])]") }
        let oh = try VerificationContext.outputSize(input[2], kernel: w[2], stride: strides[0], padBegin: pads[0], padEnd: pads[2], dilation: dilations[0], ceil: false)
        let ow = try VerificationContext.outputSize(input[3], kernel: w[3], stride: strides[1], padBegin: pads[1], padEnd: pads[3], dilation: dilations[1], ceil: false)
        try context.expect(context.result == [input[0], w[0], oh, ow], "result shape \(context.result) is not \([input[0], w[0], oh, ow])")
    }
    public func cost(_ context: CostContext) -> Cost { CostModel.linear(context, x: x, weight: weight) }
    public var maskedWeight: Int? { weight }
}

/// x[..., K] times the server's weight [N, K] transposed, plus bias [N].
public struct Dense: InstructionDefinition {
    public static let opcode = Opcode.dense
    public static let mnemonic = "dense"
    public static let kind = InstructionKind.interactive
    public static let summary = "x [...,K] times w [N,K] transposed + b [N]; 2f bits"
    public var x = 0, weight = 0
    public var bias: Int?
    public init() {}
    public var operation: Operation { .dense(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.weight("w", &weight)
        try v.optionalWeight("b", &bias)
    }
    public func verify(_ context: VerificationContext) throws {
        let input = context.shape(x), w = context.weightShape(weight)
        try context.expect(w.count == 2 && input.last == w[1], "weight \(w) does not fit input \(input)")
        if let bias { try context.expect(context.weightShape(bias) == [w[0]], "bias shape is not [\(w[0])]") }
        try context.expect(context.result == input.dropLast() + [w[0]], "result shape \(context.result) is not \(input.dropLast() + [w[0]])")
    }
    public func cost(_ context: CostContext) -> Cost { CostModel.linear(context, x: x, weight: weight) }
    public var maskedWeight: Int? { weight }
}

/// Elementwise product with a server weight, broadcast (NumPy rules).
public struct Scale: InstructionDefinition {
    public static let opcode = Opcode.scale
    public static let mnemonic = "scale"
    public static let kind = InstructionKind.interactive
    public static let summary = "x times w, w broadcast onto x; 2f bits"
    public var x = 0, weight = 0
    public init() {}
    public init(x: Int, weight: Int) { (self.x, self.weight) = (x, weight) }
    public var operation: Operation { .scale(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.weight("w", &weight)
    }
    public func verify(_ context: VerificationContext) throws { try context.expectWeightBroadcasts(weight, onto: x) }
    public func cost(_ context: CostContext) -> Cost { CostModel.linear(context, x: x, weight: weight) }
    public var maskedWeight: Int? { weight }
}
