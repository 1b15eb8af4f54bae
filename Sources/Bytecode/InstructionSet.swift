import SharedKernels
/// The instruction set: one definition per instruction (a struct in `Instructions/`,
/// grouped by kind, one file each) and the two exhaustive tables that tie the format's
/// opcode numbers to those structs. Everything else (encoder, decoder, disassembler,
/// verifier, cost model, weight masking, the runtime's dispatch and Runtime/BYTECODE.md's
/// opcode table) is derived from the definitions, so adding an instruction means: its
/// struct, one case in each table below, and its protocol and emulation in the runtime.
/// The compiler rejects a table or a runtime switch that misses it.

/// One-byte operation codes. Numbers are part of the format: never reuse one.
public enum Opcode: UInt8, Sendable, CaseIterable {
    case input = 1, reveal, conv, dense, scale, addWeight, mul, add, sub, neg, addPublic, trunc
    case relu, blockReLU, maxPool, avgPool, globalAvgPool
    case reshape, transpose, slice, concat, pad, resize
    case softmax, argMax
    case constant
    case narrow

    /// The struct that defines this opcode's instruction.
    public var definition: any InstructionDefinition.Type {
        switch self {
        case .input: Input.self
        case .reveal: Reveal.self
        case .conv: Conv.self
        case .dense: Dense.self
        case .scale: Scale.self
        case .addWeight: AddWeight.self
        case .mul: Mul.self
        case .add: Add.self
        case .sub: Sub.self
        case .neg: Neg.self
        case .addPublic: AddPublic.self
        case .trunc: Trunc.self
        case .relu: ReLU.self
        case .blockReLU: BlockReLU.self
        case .maxPool: MaxPool.self
        case .avgPool: AvgPool.self
        case .globalAvgPool: GlobalAvgPool.self
        case .reshape: Reshape.self
        case .transpose: Transpose.self
        case .slice: Slice.self
        case .concat: Concat.self
        case .pad: Pad.self
        case .resize: Resize.self
        case .softmax: Softmax.self
        case .argMax: ArgMax.self
        case .constant: Constant.self
        case .narrow: Narrow.self
        }
    }

    public var mnemonic: String { definition.mnemonic }
}

/// An instruction's operation with its fields: the closed set the runtime switches over.
public enum Operation: Sendable, Hashable {
    case input(Input), reveal(Reveal), conv(Conv), dense(Dense), scale(Scale), addWeight(AddWeight), mul(Mul)
    case add(Add), sub(Sub), neg(Neg), addPublic(AddPublic), trunc(Trunc)
    case relu(ReLU), blockReLU(BlockReLU), maxPool(MaxPool), avgPool(AvgPool), globalAvgPool(GlobalAvgPool)
    case reshape(Reshape), transpose(Transpose), slice(Slice), concat(Concat), pad(Pad), resize(Resize)
    case softmax(Softmax), argMax(ArgMax)
    case constant(Constant)
    case narrow(Narrow)

    /// The operation's definition (fields, rules, cost).
    public var definition: any InstructionDefinition {
        switch self {
        case .input(let op): op
        case .reveal(let op): op
        case .conv(let op): op
        case .dense(let op): op
        case .scale(let op): op
        case .addWeight(let op): op
        case .mul(let op): op
        case .add(let op): op
        case .sub(let op): op
        case .neg(let op): op
        case .addPublic(let op): op
        case .trunc(let op): op
        case .relu(let op): op
        case .blockReLU(let op): op
        case .maxPool(let op): op
        case .avgPool(let op): op
        case .globalAvgPool(let op): op
        case .reshape(let op): op
        case .transpose(let op): op
        case .slice(let op): op
        case .concat(let op): op
        case .pad(let op): op
        case .resize(let op): op
        case .softmax(let op): op
        case .argMax(let op): op
        case .constant(let op): op
        case .narrow(let op): op
        }
    }

    public var opcode: Opcode { type(of: definition).opcode }

    /// Runs `visitor` over the fields (reading, printing or collecting them).
    func visitFields<V: FieldVisitor>(_ visitor: inout V) {
        var fields = definition
        try? fields.visit(&visitor)  // only decoding fails, and it starts from `Opcode`
    }

    /// Registers the operation reads, in field order.
    public var operands: [Int] {
        var collector = OperandCollector()
        visitFields(&collector)
        return collector.registers
    }

    /// What the operation is (local, interactive ...).
    public var kind: InstructionKind { type(of: definition).kind }

    /// The same operation reading `renumbered[r]` wherever it read register r.
    public func renumbered(_ renumbered: [Int]) -> Operation {
        var remapper = OperandRemapper(renumbered: renumbered)
        var fields = definition
        try? fields.visit(&remapper)  // the remapper never throws
        return fields.operation
    }
}

/// Renumbers the registers an operation reads.
struct OperandRemapper: OperandVisitor {
    let renumbered: [Int]
    mutating func operand(_ name: String, _ value: inout Int) { value = renumbered[value] }
    mutating func operands(_ name: String, _ value: inout [Int]) { value = value.map { renumbered[$0] } }
}

/// Where an instruction runs and which domains it reads and writes. The groups are
/// also protocols (`LocalInstruction` ...) that supply the rules all their members share.
public enum InstructionKind: String, Sendable, CaseIterable {
    /// Starts a shared register from one party's data (the client's input, a server
    /// constant), split with a mask from the client-server PRG: no messages.
    case source
    /// Each share holder applies it to its own share: no messages. Operands and result
    /// are shared.
    case local
    /// Local data movement: on shares, or in the client's epilogue on revealed
    /// registers; the result stays in its operand's domain.
    case dataMovement = "data movement"
    /// A protocol with messages (linear layers with the server's weights, products,
    /// comparisons). Operands and result are shared.
    case interactive
    /// Opens a shared register to the client.
    case reveal
    /// The client's plaintext on revealed registers.
    case epilogue

    /// Whether the result is shared (in either ring), revealed, or in its operand's domain.
    public var result: DomainRule {
        switch self {
        case .source, .local, .interactive: .shared
        case .reveal, .epilogue: .revealed
        case .dataMovement: .operand
        }
    }

    /// What every operand must be; `.operand`: any domain.
    public var operands: DomainRule {
        switch self {
        case .source, .dataMovement: .operand
        case .local, .interactive, .reveal: .shared
        case .epilogue: .revealed
        }
    }

    /// Whether operands must be in the result's ring (unless the instruction converts).
    public var keepsRing: Bool { self == .local || self == .interactive }
}

/// A kind's rule for the domain of a result or of the operands.
public enum DomainRule: Sendable {
    case shared, revealed, operand
}

/// What every instruction defines once: its opcode and mnemonic, its kind, its fields in
/// format order (`visit`), the checks of its result against operands and attributes, its
/// predicted cost under the runtime's protocols, and the server weight it masks once per
/// session. The kind protocols below supply these for whole groups where they agree.
public protocol InstructionDefinition: Sendable, Hashable {
    static var opcode: Opcode { get }
    static var mnemonic: String { get }
    static var kind: InstructionKind { get }
    /// What the result is, for Runtime/BYTECODE.md's opcode table.
    static var summary: String { get }
    init()
    /// Lists the fields in format order to a reader, writer or printer.
    mutating func visit<V: FieldVisitor>(_ visitor: inout V) throws
    /// The operation holding these fields.
    var operation: Operation { get }
    /// Checks the result's shape against the operands, attributes and weights (the
    /// verifier has checked domains and register order already).
    func verify(_ context: VerificationContext) throws
    /// Predicted messages (CostModel.swift), the same bytes the runtime counts.
    func cost(_ context: CostContext) -> Cost
    /// The server weight that setup masks for this instruction's protocol, if any.
    var maskedWeight: Int? { get }
    /// Whether its operand may be in another ring than its result (`trunc`, `narrow`).
    static var convertsRing: Bool { get }
}

extension InstructionDefinition {
    public static var convertsRing: Bool { false }
}

/// Local arithmetic on shares: no messages, no masked weights.
public protocol LocalInstruction: InstructionDefinition {}
extension LocalInstruction {
    public static var kind: InstructionKind { .local }
    public func cost(_ context: CostContext) -> Cost { Cost() }
    public var maskedWeight: Int? { nil }
}

/// Data movement in either domain: no messages; the result keeps its operand's domain.
public protocol DataMovementInstruction: InstructionDefinition {
    /// The register whose domain the result keeps.
    var x: Int { get }
}
extension DataMovementInstruction {
    public static var kind: InstructionKind { .dataMovement }
    public func cost(_ context: CostContext) -> Cost { Cost() }
    public var maskedWeight: Int? { nil }
}

/// The client's plaintext on revealed registers: no messages.
public protocol EpilogueInstruction: InstructionDefinition {}
extension EpilogueInstruction {
    public static var kind: InstructionKind { .epilogue }
    public func cost(_ context: CostContext) -> Cost { Cost() }
    public var maskedWeight: Int? { nil }
}

/// Reads, writes or prints one field of an operation.
public protocol FieldVisitor {
    mutating func operand(_ name: String, _ value: inout Int) throws
    mutating func operands(_ name: String, _ value: inout [Int]) throws
    mutating func weight(_ name: String, _ value: inout Int) throws
    mutating func optionalWeight(_ name: String, _ value: inout Int?) throws
    mutating func integer(_ name: String, _ value: inout Int, _ range: ClosedRange<Int>) throws
    mutating func integers(_ name: String, _ value: inout [Int], count: ClosedRange<Int>, _ range: ClosedRange<Int>) throws
    mutating func blocks(_ name: String, _ value: inout [BlockSize]) throws
    mutating func taps(_ name: String, _ value: inout [ResizeTap]) throws
}

/// A visitor of the registers alone: every other field is passed over.
protocol OperandVisitor: FieldVisitor {}

extension OperandVisitor {
    mutating func weight(_ name: String, _ value: inout Int) {}
    mutating func optionalWeight(_ name: String, _ value: inout Int?) {}
    mutating func integer(_ name: String, _ value: inout Int, _ range: ClosedRange<Int>) {}
    mutating func integers(_ name: String, _ value: inout [Int], count: ClosedRange<Int>, _ range: ClosedRange<Int>) {}
    mutating func blocks(_ name: String, _ value: inout [BlockSize]) {}
    mutating func taps(_ name: String, _ value: inout [ResizeTap]) {}
}

/// Collects the registers an operation reads.
struct OperandCollector: OperandVisitor {
    var registers: [Int] = []
    mutating func operand(_ name: String, _ value: inout Int) { registers.append(value) }
    mutating func operands(_ name: String, _ value: inout [Int]) { registers += value }
}

/// Limits the decoder enforces on attribute values.
enum Limits {
    static let dimension = 1 << 30
    static let window = 1 << 16
    static let shiftBits = 0...62
    static let axis = 0...7
    static let comparedBits = 2...64
    static let radices = 2...4
}
