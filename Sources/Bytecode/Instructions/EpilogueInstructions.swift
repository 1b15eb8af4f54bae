// The client's epilogue on revealed registers.

public struct Softmax: EpilogueInstruction {
    public static let opcode = Opcode.softmax
    public static let mnemonic = "softmax"
    public static let summary = "revealed only"
    public var x = 0
    public var axis = 0
    public init() {}
    public init(_ x: Int, axis: Int) { (self.x, self.axis) = (x, axis) }
    public var operation: Operation { .softmax(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("axis", &axis, Limits.axis)
    }
    public func verify(_ context: VerificationContext) throws {
        try context.expect(axis < context.shape(x).count && context.result == context.shape(x), "bad softmax axis or shape")
    }
}
