// Average pooling: window sums times public multipliers, local on shares; a `trunc`
// removes the multiplier's extra bits.

/// Window geometry shared by max and average pooling over the last two axes.
public struct Window: Sendable, Hashable {
    public var kernel = [1, 1], strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1]
    public var ceilMode = false
    public init() {}
    public init(kernel: [Int], strides: [Int], pads: [Int], dilations: [Int], ceilMode: Bool) {
        (self.kernel, self.strides, self.pads, self.dilations, self.ceilMode) = (kernel, strides, pads, dilations, ceilMode)
    }

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

/// Window sums times round(2^shift / divisor) per output position; the result carries
/// `shift` extra fractional bits (a trunc follows).
public struct AvgPool: LocalInstruction {
    public static let opcode = Opcode.avgPool
    public static let mnemonic = "avg_pool"
    public static let summary = "window sum times round(2^shift / d), d the valid count, or with count_include_pad "
        + "the window clipped to the padded input; shift extra bits"
    public var x = 0
    public var window = Window()
    public var countIncludePad = false
    public var shift = 0
    public init() {}
    public var operation: Operation { .avgPool(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try window.visit(&v)
        var include = countIncludePad ? 1 : 0
        try v.integer("count_include_pad", &include, 0...1)
        countIncludePad = include == 1
        try v.integer("shift", &shift, Limits.shiftBits)
    }
    public func verify(_ context: VerificationContext) throws { try context.expectPooled(x, window) }
}

/// Sum over all axes after the first two times round(2^shift / count).
public struct GlobalAvgPool: LocalInstruction {
    public static let opcode = Opcode.globalAvgPool
    public static let mnemonic = "global_avg_pool"
    public static let summary = "per [N,C] plane: sum times round(2^shift / (H*W)); result [N,C,1,1]"
    public var x = 0
    public var shift = 0
    public init() {}
    public init(_ x: Int, shift: Int) { (self.x, self.shift) = (x, shift) }
    public var operation: Operation { .globalAvgPool(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("shift", &shift, Limits.shiftBits)
    }
    public func verify(_ context: VerificationContext) throws {
        let input = context.shape(x), result = context.result
        try context.expect(input.count >= 3 && result == Array(input.prefix(2)) + Array(repeating: 1, count: input.count - 2), "result shape \(result) is not the pooled \(input)")
    }
}
