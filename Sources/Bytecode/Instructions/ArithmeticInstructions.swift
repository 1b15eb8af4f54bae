// Elementwise arithmetic on shared registers. Everything but `mul` is local: additions
// are linear in the shares, and a public constant or a server weight is added by its
// holder alone.

/// Elementwise sum with a server weight, broadcast; the server adds it to its share.
public struct AddWeight: LocalInstruction {
    public static let opcode = Opcode.addWeight
    public static let mnemonic = "add_weight"
    public static let summary = "x + w, w broadcast onto x (the server adds it)"
    public var x = 0, weight = 0
    public init() {}
    public init(x: Int, weight: Int) { (self.x, self.weight) = (x, weight) }
    public var operation: Operation { .addWeight(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.weight("w", &weight)
    }
    public func verify(_ context: VerificationContext) throws { try context.expectWeightBroadcasts(weight, onto: x) }
}

/// Elementwise product of two shared tensors (broadcast), by a Beaver triple.
public struct Mul: InstructionDefinition {
    public static let opcode = Opcode.mul
    public static let mnemonic = "mul"
    public static let kind = InstructionKind.interactive
    public static let summary = "elementwise product of two shared tensors (broadcast); 2f bits"
    public var a = 0, b = 0
    public init() {}
    public init(_ a: Int, _ b: Int) { (self.a, self.b) = (a, b) }
    public var operation: Operation { .mul(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("a", &a)
        try v.operand("b", &b)
    }
    public func verify(_ context: VerificationContext) throws { try context.expectBroadcast(a, b) }
    public func cost(_ context: CostContext) -> Cost {
        // Both parties open both masked operands; the helper sends one share of c.
        var cost = Cost()
        let opened = context.element * (context.elements(a) + context.elements(b))
        cost.online = RoleBytes(client: opened, server: opened)
        cost.offline = RoleBytes(helper: context.element * context.elementCount)
        cost.rounds = 1
        return cost
    }
    public var maskedWeight: Int? { nil }
}

public struct Add: LocalInstruction {
    public static let opcode = Opcode.add
    public static let mnemonic = "add"
    public static let summary = "a + b (broadcast)"
    public var a = 0, b = 0
    public init() {}
    public init(_ a: Int, _ b: Int) { (self.a, self.b) = (a, b) }
    public var operation: Operation { .add(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("a", &a)
        try v.operand("b", &b)
    }
    public func verify(_ context: VerificationContext) throws { try context.expectBroadcast(a, b) }
}

public struct Sub: LocalInstruction {
    public static let opcode = Opcode.sub
    public static let mnemonic = "sub"
    public static let summary = "a - b (broadcast)"
    public var a = 0, b = 0
    public init() {}
    public init(_ a: Int, _ b: Int) { (self.a, self.b) = (a, b) }
    public var operation: Operation { .sub(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("a", &a)
        try v.operand("b", &b)
    }
    public func verify(_ context: VerificationContext) throws { try context.expectBroadcast(a, b) }
}

public struct Neg: LocalInstruction {
    public static let opcode = Opcode.neg
    public static let mnemonic = "neg"
    public static let summary = "-x"
    public var x = 0
    public init() {}
    public init(_ x: Int) { self.x = x }
    public var operation: Operation { .neg(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws { try v.operand("x", &x) }
    public func verify(_ context: VerificationContext) throws { try context.expectSameShape(as: x) }
}

/// Adds a public fixed-point constant (the client adds it to its share).
public struct AddPublic: LocalInstruction {
    public static let opcode = Opcode.addPublic
    public static let mnemonic = "add_public"
    public static let summary = "x + value (a public fixed-point constant; the client adds it)"
    public var x = 0
    public var value = 0
    public init() {}
    public init(_ x: Int, value: Int) { (self.x, self.value) = (x, value) }
    public var operation: Operation { .addPublic(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("value", &value, Int(Int64.min)...Int(Int64.max))
    }
    public func verify(_ context: VerificationContext) throws { try context.expectSameShape(as: x) }
}

/// Drops `bits` fractional bits after a product: floor(x / 2^bits), or one more with
/// probability (x mod 2^bits) / 2^bits (the parties' rounding is stochastic; the
/// emulator rounds down); `exact` adds a comparison of the low bits that makes it floor
/// exactly. A protocol with the helper's truncation pair that never wraps while
/// |x| < 2^62 (Runtime/PROTOCOLS.md).
public struct Trunc: InstructionDefinition {
    public static let opcode = Opcode.trunc
    public static let mnemonic = "trunc"
    public static let kind = InstructionKind.interactive
    public static let summary = "exact: x / 2^bits rounded to nearest (halves up); else floor(x / 2^bits), or one more with probability (x mod 2^bits) / 2^bits; "
        + "never wraps while |x| < 2^62 (2^30 in Z_2^32); the result may be in another ring (bits=0: a widening)"
    public static let convertsRing = true
    public var x = 0
    public var bits = 0
    public var exact = false
    public init() {}
    public init(_ x: Int, bits: Int, exact: Bool = false) { (self.x, self.bits, self.exact) = (x, bits, exact) }
    public var operation: Operation { .trunc(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("bits", &bits, Limits.shiftBits)
        var flag = exact ? 1 : 0
        try v.integer("exact", &flag, 0...1)
        exact = flag == 1
    }
    /// The comparison that finds the carry of the low bits (exact truncations only).
    public var carryComparison: Comparison? { exact && bits > 0 ? Comparison(bits: bits + 1, dropped: 0) : nil }
    /// Whether x is a linear layer's result with the server's weight (not exact): the
    /// client's share of it, L_M(A) - R, does not depend on the input, so the client's
    /// masked value is sent offline and only its top bit comes back (PROTOCOLS.md).
    public func followsLinearLayer(in program: Program) -> Bool {
        !exact && program.instructions[x].operation.definition.maskedWeight != nil
    }
    public func verify(_ context: VerificationContext) throws {
        try context.expectSameShape(as: x)
        let input = context.ring(x) ?? .z64
        try context.expect(input.holds(magnitudeBits: bits), "trunc drops \(bits) bits, more than the \(input.bits)-bit ring's truncation allows")
        if let carryComparison { try context.expectWithinRing(carryComparison) }
    }
    public func cost(_ context: CostContext) -> Cost {
        // Both open x + r (one word of x's ring each); the helper sends the server its
        // shares of r's high part and of r's top bit (two words of the result's ring).
        // After a linear layer the client's word goes offline and the server returns
        // only the opened value's top bit. Exact: the helper also shares r's low bits,
        // and sign-and-select finds the carry.
        var cost = Cost()
        let opened = context.element(x) * context.elementCount
        if followsLinearLayer(in: context.program) {
            cost.online = RoleBytes(server: CostModel.bitBytes(context.elementCount))
            cost.offline = RoleBytes(client: opened)
        } else {
            cost.online = RoleBytes(client: opened, server: opened)
        }
        cost.offline.helper = (carryComparison == nil ? 2 : 3) * context.element * context.elementCount
        cost.rounds = 1
        guard let carryComparison else { return cost }
        var carry = CostModel.signAndSelect(values: context.elementCount, pixels: context.elementCount, comparison: carryComparison, ring: context.ring)
        carry.drelus = 0  // a comparison of low bits, not a ReLU's
        return cost + carry
    }
    public var maskedWeight: Int? { nil }
}

/// A Z_2^64 register reduced to Z_2^32 (each share mod 2^32): free, and exact for values
/// below 2^31. The way back is a `trunc` with bits=0 (a protocol).
public struct Narrow: LocalInstruction {
    public static let opcode = Opcode.narrow
    public static let mnemonic = "narrow"
    public static let summary = "x mod 2^32: a Z_2^64 register in Z_2^32"
    public static let convertsRing = true
    public var x = 0
    public init() {}
    public init(_ x: Int) { self.x = x }
    public var operation: Operation { .narrow(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws { try v.operand("x", &x) }
    public func verify(_ context: VerificationContext) throws {
        try context.expectSameShape(as: x)
        try context.expect(context.ring(x) == .z64 && context.domain == .shared32, "narrow takes a Z_2^64 register to Z_2^32")
    }
}
