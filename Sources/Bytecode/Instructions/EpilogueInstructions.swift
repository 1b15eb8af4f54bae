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

/// Indices of the largest value along an axis, as float.
public struct ArgMax: EpilogueInstruction {
    public static let opcode = Opcode.argMax
    public static let mnemonic = "argmax"
    public static let summary = "revealed only; indices as floats"
    public var x = 0
    public var axis = 0
    public var keepDims = true, selectLastIndex = false
    public init() {}
    public var operation: Operation { .argMax(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("axis", &axis, Limits.axis)
        var flags = (keepDims ? 1 : 0) | (selectLastIndex ? 2 : 0)
        try v.integer("flags", &flags, 0...3)
        keepDims = flags & 1 != 0
        selectLastIndex = flags & 2 != 0
    }
    public func verify(_ context: VerificationContext) throws {
        var input = context.shape(x)
        try context.expect(axis < input.count, "argmax axis \(axis) is out of range")
        if keepDims { input[axis] = 1 } else { input.remove(at: axis) }
        try context.expect(context.result == input, "result shape \(context.result) is not \(input)")
    }
}
