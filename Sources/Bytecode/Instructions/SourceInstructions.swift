/// The client's input, shared between client and server with a client-server PRG mask.
public struct Input: InstructionDefinition {
    public static let opcode = Opcode.input
    public static let mnemonic = "input"
    public static let kind = InstructionKind.source
    public static let summary = "the client's input, fixed point; one per program"
    public init() {}
    public var operation: Operation { .input(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {}
    public func verify(_ context: VerificationContext) throws {}
    public func cost(_ context: CostContext) -> Cost { Cost() }
    public var maskedWeight: Int? { nil }
}

/// A server weight as a shared tensor, for constants that enter the computation as data
/// (e.g. concatenated): the server's values, split with a client-server PRG mask.
public struct Constant: InstructionDefinition {
    public static let opcode = Opcode.constant
    public static let mnemonic = "constant"
    public static let kind = InstructionKind.source
    public static let summary = "a server weight as a shared tensor (the server's values, split like the input)"
    public var weight = 0
    public init() {}
    public init(weight: Int) { self.weight = weight }
    public var operation: Operation { .constant(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws { try v.weight("w", &weight) }
    public func verify(_ context: VerificationContext) throws {
        let weightShape = context.weightShape(weight)
        try context.expect(context.result == weightShape, "result shape \(context.result) differs from the weight's \(weightShape)")
    }
    public func cost(_ context: CostContext) -> Cost { Cost() }
    public var maskedWeight: Int? { nil }
}

/// Opens a shared register to the client only, as float: the server sends its share.
public struct Reveal: InstructionDefinition {
    public static let opcode = Opcode.reveal
    public static let mnemonic = "reveal"
    public static let kind = InstructionKind.reveal
    public static let summary = "revealed floats of shared %x (to the client only)"
    public var x = 0
    public init() {}
    public init(_ x: Int) { self.x = x }
    public var operation: Operation { .reveal(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws { try v.operand("x", &x) }
    public func verify(_ context: VerificationContext) throws { try context.expectSameShape(as: x) }
    public func cost(_ context: CostContext) -> Cost {
        var cost = Cost()
        cost.online = RoleBytes(server: context.element(x) * context.elementCount)
        cost.rounds = 1
        return cost
    }
    public var maskedWeight: Int? { nil }
}
