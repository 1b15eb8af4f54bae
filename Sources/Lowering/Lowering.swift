import Bytecode
import IR

/// A graph construct the bytecode cannot express, named with its node.
public struct LoweringError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Lowers a verified, batch-1 IR graph (after the passes and any block-ReLU plan) to a
/// fixed-point program over Z_2^64 (Z_2^32 where calibrated values fit, `Rings.swift`)
/// and the server's quantized weights.
///
/// Every shared register holds values with `fracBits` fractional bits. Products (conv,
/// dense, scale, mul) produce twice that and are followed by a `trunc`; pooling and
/// resize multiply by public coefficients with extra bits that a `trunc` removes. Model
/// constants become server weights; only shapes, pooling and resize coefficients and
/// the block plan are public. A final softmax (and data movement after it) runs at the
/// client after the reveal (the epilogue); data movement before it stays on shares, and
/// argmax is computed on shares, so the client receives only the declared outputs.
///
/// The driver is here; `Quantization.swift` holds the fixed-point choices,
/// `SecureOps.swift` one lowering per IR op, `Decompositions.swift` the ops built from
/// several instructions, and `Epilogue.swift` the client's part.
public struct Lowering {
    public struct Options: Sendable {
        /// Fractional bits of every activation.
        public var fracBits = 20
        /// Fractional bits of every product weight (conv, dense, scale); nil: chosen per
        /// tensor from its magnitudes (`Quantization.swift`).
        public var weightBits: Int?
        /// Compare only this many bits in each DReLU (nil: exact).
        public var approxDReLUBits: Int?
        /// Dropped low bits per compared layer (by the name of its result), e.g. from
        /// calibration ranges; layers not named get the default window.
        public var droppedBits: [String: Int]
        /// The range the client clamps its input to (nil: only the encoder's limit).
        public var inputRange: ClosedRange<Float>?
        /// Truncations round down exactly (a comparison of the low bits each), so the
        /// parties' results equal the emulator's bit for bit; else they round
        /// stochastically, one unit at most.
        public var exactTruncation = false
        /// Z_2^32 where calibrated values fit (`Rings.swift`); nil: all of Z_2^64.
        public var narrowRing: NarrowRing?
        /// Nodes a group in every comparison's carry-lookahead tree (2 or 4).
        public var comparisonRadix = 2
        public init(fracBits: Int = 20, weightBits: Int? = nil, approxDReLUBits: Int? = nil, droppedBits: [String: Int] = [:],
                    inputRange: ClosedRange<Float>? = nil) {
            self.inputRange = inputRange
            self.fracBits = fracBits
            self.weightBits = weightBits
            self.approxDReLUBits = approxDReLUBits
            self.droppedBits = droppedBits
        }
    }

    let graph: Graph
    let options: Options
    var program: Program
    var weights: [[Int64]] = []
    var lowered: [ValueID: Lowered] = [:]
    let constants: [ValueID: Tensor]
    var weightIndex: [String: Int] = [:]
    /// The ring and weight bits of the node being lowered.
    var nodePrecision = NodePrecision()
    var ring: Ring { nodePrecision.ring }
    /// Registers converted to the other ring, by original register.
    var conversions: [Int: Int] = [:]

    /// What an IR value became.
    enum Lowered {
        case shared(Int)
        case revealed(Int)
        case constant(Tensor)
    }

    /// The program and the server's weights; the program passes the bytecode verifier
    /// (a failure there is a bug of the lowering, reported as such).
    public static func lower(_ graph: Graph, options: Options = Options()) throws -> (program: Program, weights: WeightFile) {
        var lowering = Lowering(graph: graph, options: options)
        try lowering.run()
        lowering.program = RoundSharing.shared(lowering.program)
        try lowering.fitFormatLimits()
        CostModel.annotate(&lowering.program)
        do {
            try ProgramVerifier(lowering.program).verify()
        } catch let error as BytecodeError {
            throw LoweringBug("the lowered program fails verification: \(error.message)")
        }
        return (lowering.program, WeightFile(programHash: lowering.program.hash, tensors: lowering.weights))
    }

    init(graph: Graph, options: Options) {
        self.graph = graph
        self.options = options
        self.program = Program(fracBits: options.fracBits, approxDReLUBits: options.approxDReLUBits ?? 0, inputRange: options.inputRange)
        self.constants = graph.constants()
    }

    var f: Int { options.fracBits }

    private mutating func run() throws {
        guard graph.inputs.count == 1 else { throw LoweringError("the model has \(graph.inputs.count) inputs; secure inference takes exactly one (the client's)") }
        let input = graph.inputs[0]
        guard graph.type(of: input).dtype == .f32 else { throw LoweringError("the model's input is not float32") }
        nodePrecision.ring = inputRing(input)
        lowered[input] = .shared(emit(Input(), shape: graph.type(of: input).shape, source: graph.name(of: input)))
        let epilogue = epilogueNodes()
        for (index, node) in graph.nodes.enumerated() {
            if case .constant(let tensor) = node.op {
                lowered[node.result] = .constant(tensor)
                continue
            }
            let label = node.name.isEmpty ? graph.name(of: node.result) : node.name
            nodePrecision = precision(of: node)
            do {
                lowered[node.result] = epilogue.contains(index) ? try lowerEpilogue(node, label) : .shared(try lowerSecure(node, label))
            } catch let error as BytecodeError {
                throw LoweringError("\(node.op.mnemonic) '\(label)': \(error.message)")
            }
        }
        for output in graph.outputs {
            switch lowered[output] {
            case .shared(let register)?:
                program.outputs.append(emit(Reveal(register), shape: program.instructions[register].shape, domain: .revealed, source: graph.name(of: output)))
            case .revealed(let register)?:
                program.outputs.append(register)
            default:
                throw LoweringError("output \(graph.name(of: output)) is a constant; there is nothing to compute securely")
            }
        }
    }

    /// The format's limits (BYTECODE.md): rank 8; names are clipped to 1024 bytes.
    private mutating func fitFormatLimits() throws {
        if let deep = program.instructions.first(where: { $0.shape.count > 8 }) {
            throw LoweringError("'\(deep.source)' computes a tensor of rank \(deep.shape.count); the bytecode holds at most rank 8")
        }
        if let deep = program.weights.first(where: { $0.shape.count > 8 }) {
            throw LoweringError("weight \(deep.name) has rank \(deep.shape.count); the bytecode holds at most rank 8")
        }
        func clipped(_ name: String) -> String { String(decoding: name.utf8.prefix(1024), as: UTF8.self) }
        for index in program.instructions.indices { program.instructions[index].source = clipped(program.instructions[index].source) }
        for index in program.weights.indices { program.weights[index].name = clipped(program.weights[index].name) }
    }

    // MARK: - Emission

    /// Appends an instruction; its result is in the current node's ring unless `domain`
    /// says otherwise.
    mutating func emit(_ operation: some InstructionDefinition, shape: [Int], domain: Domain? = nil, source: String) -> Int {
        program.instructions.append(Instruction(operation, shape: shape, domain: domain ?? Domain(shared: ring), source: source))
        return program.instructions.count - 1
    }

    /// The shared register of a value in the current node's ring; a constant becomes the
    /// server's shared tensor.
    mutating func register(_ value: ValueID, _ label: String) throws -> Int {
        switch lowered[value] {
        case .shared(let register)?: return inNodeRing(register)
        case .revealed?: throw LoweringError("'\(label)' uses a revealed value inside the secure computation")
        case .constant(let tensor)?:
            let weight = try weight(tensor, bits: f, name: graph.name(of: value))
            let register = emit(Constant(weight: weight), shape: tensor.shape, source: graph.name(of: value))
            lowered[value] = .shared(register)
            return register
        case nil: throw LoweringError("'\(label)' uses \(graph.name(of: value)) before it is defined")
        }
    }

    func constant(_ value: ValueID) -> Tensor? { constants[value] }
}

/// A lowered program that the bytecode verifier rejects: a bug in mpcc, not in the model.
public struct LoweringBug: Error, CustomStringConvertible {
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Int {
    /// ceil(log2(self)) for self >= 1.
    var log2Ceiling: Int { self <= 1 ? 0 : Int.bitWidth - (self - 1).leadingZeroBitCount }
}
