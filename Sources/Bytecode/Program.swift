import SharedKernels
import Crypto

/// Which values a register holds.
public enum Domain: UInt8, Sendable {
    /// Z_2^64 fixed point, additively shared by the client and the server.
    case shared = 0
    /// Plaintext float at the client, after a reveal (the client-side epilogue).
    case revealed = 1
    /// Z_2^32 fixed point, additively shared: a narrow ring for values that fit.
    case shared32 = 2

    /// The shared domain over `ring`.
    public init(shared ring: Ring) { self = ring == .z64 ? .shared : .shared32 }

    /// The ring of a shared register; nil for revealed ones.
    public var ring: Ring? {
        switch self {
        case .shared: .z64
        case .shared32: .z32
        case .revealed: nil
        }
    }
}

/// A server weight tensor: its shape and fractional bits (biases of products carry twice
/// the program's). The values live in the .mpcw file.
public struct WeightInfo: Sendable, Hashable {
    public var name: String
    public var shape: [Int]
    public var fracBits: Int
    public init(name: String, shape: [Int], fracBits: Int) {
        self.name = name
        self.shape = shape
        self.fracBits = fracBits
    }
    public var elementCount: Int { shape.reduce(1, *) }
}

/// Bytes one protocol step makes each role send.
public struct RoleBytes: Sendable, Hashable {
    public var client = 0, server = 0, helper = 0
    public init(client: Int = 0, server: Int = 0, helper: Int = 0) {
        self.client = client
        self.server = server
        self.helper = helper
    }
    public var total: Int { client + server + helper }
    public static func + (a: RoleBytes, b: RoleBytes) -> RoleBytes {
        RoleBytes(client: a.client + b.client, server: a.server + b.server, helper: a.helper + b.helper)
    }
}

/// The predicted cost of an instruction (CostModel.swift): DReLUs, sequential rounds of
/// online messages, and bytes per role online (depends on the input), offline (the
/// helper's correlated randomness, input-independent, per inference) and per session
/// (masked weights, once per connection).
public struct Cost: Sendable, Hashable {
    public var drelus = 0
    public var rounds = 0
    public var online = RoleBytes(), offline = RoleBytes(), session = RoleBytes()
    /// Of the helper's offline bytes, those it sends the client (the rest go to the server).
    public var helperToClient = 0
    public init() {}
    public static func + (a: Cost, b: Cost) -> Cost {
        var sum = Cost()
        sum.drelus = a.drelus + b.drelus
        sum.rounds = a.rounds + b.rounds
        sum.online = a.online + b.online
        sum.offline = a.offline + b.offline
        sum.session = a.session + b.session
        sum.helperToClient = a.helperToClient + b.helperToClient
        return sum
    }
    /// Bytes of one inference (online and offline), all roles together.
    public var perInferenceBytes: Int { online.total + offline.total }

    func fieldsWithin(_ limit: Int) -> Bool {
        [drelus, rounds, online.client, online.server, online.helper, offline.client, offline.server, offline.helper,
         session.client, session.server, session.helper, helperToClient].allSatisfy { $0 <= limit }
    }
}

/// One instruction: an operation and the register it defines. Instruction i defines
/// register i (SSA: operands always name earlier registers).
public struct Instruction: Sendable {
    public var operation: Operation
    public var shape: [Int]
    public var domain: Domain
    /// The IR node (ONNX layer) it came from.
    public var source: String
    public var cost: Cost

    public init(_ operation: Operation, shape: [Int], domain: Domain = .shared, source: String, cost: Cost = Cost()) {
        self.operation = operation
        self.shape = shape
        self.domain = domain
        self.source = source
        self.cost = cost
    }

    /// An instruction from an operation's definition.
    public init(_ definition: some InstructionDefinition, shape: [Int], domain: Domain = .shared, source: String, cost: Cost = Cost()) {
        self.init(definition.operation, shape: shape, domain: domain, source: source, cost: cost)
    }

    public var opcode: Opcode { operation.opcode }
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A compiled program (.mpcb): public, the same for all three parties.
public struct Program: Sendable {
    /// 2: `trunc` is a protocol with the helper (stored costs of version 1 do not hold).
    /// 3: registers may be in Z_2^32 (domain 2), with `narrow` and widening `trunc`.
    /// 4: `argmax` runs on shares (interactive, with a comparison) and reveals only the indices.
    /// 5: selection by oblivious transfers, the helper sending the client too: each cost
    /// also stores the helper's bytes to the client.
    public static let formatVersion: UInt16 = 5
    public static let magic: [UInt8] = Array("MPCB".utf8)

    public var fracBits: Int
    /// --approx-drelu's window (0: exact); each comparison also records its own.
    public var approxDReLUBits: Int
    public var weights: [WeightInfo]
    public var instructions: [Instruction]
    /// Registers the client receives, in order.
    public var outputs: [Int]
    /// The range the client clamps its input to before encoding (from the calibration
    /// inputs), or nil: only the encoder's limit applies.
    public var inputRange: ClosedRange<Float>?

    public init(fracBits: Int, approxDReLUBits: Int = 0, weights: [WeightInfo] = [], instructions: [Instruction] = [], outputs: [Int] = [],
                inputRange: ClosedRange<Float>? = nil) {
        self.inputRange = inputRange
        self.fracBits = fracBits
        self.approxDReLUBits = approxDReLUBits
        self.weights = weights
        self.instructions = instructions
        self.outputs = outputs
    }

    public var totalCost: Cost { instructions.reduce(Cost()) { $0 + $1.cost } }
}

// MARK: - Encoding

extension Program {
    static let headerSize = 48
    static let maxInstructions = 1 << 24
    static let maxWeights = 1 << 24
    static let maxRank = 8

    /// The file bytes: header (magic, version, parameters, SHA-256 of the rest, body
    /// length) and body.
    public func encoded() -> [UInt8] {
        let parameters = parameterBytes()
        let body = bodyBytes()
        var writer = ByteWriter()
        writer.raw(parameters)
        writer.raw(Program.digest(parameters, body))
        writer.u32(UInt32(body.count))
        writer.raw(body)
        return writer.bytes
    }

    /// The program hash: SHA-256 of the parameters and the body. The .mpcw and the
    /// parties' handshake carry it.
    public var hash: [UInt8] { Program.digest(parameterBytes(), bodyBytes()) }

    private static func digest(_ parameters: [UInt8], _ body: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: parameters)
        hasher.update(data: body)
        return Array(hasher.finalize())
    }

    private func parameterBytes() -> [UInt8] {
        var writer = ByteWriter()
        writer.raw(Program.magic)
        writer.u16(Program.formatVersion)
        writer.u16(0)  // flags, reserved
        writer.u8(64)  // the widest ring's bits
        writer.u8(UInt8(fracBits))
        writer.u8(UInt8(approxDReLUBits))
        writer.u8(0)  // reserved
        return writer.bytes
    }

    private func bodyBytes() -> [UInt8] {
        var strings: [String] = [], index: [String: Int] = [:]
        func intern(_ text: String) -> Int {
            if let known = index[text] { return known }
            index[text] = strings.count
            strings.append(text)
            return strings.count - 1
        }
        let weightNames = weights.map { intern($0.name) }
        let sources = instructions.map { intern($0.source) }

        var writer = ByteWriter()
        writer.count(strings.count)
        for text in strings { writer.string(text) }
        writer.count(weights.count)
        for (weight, name) in zip(weights, weightNames) {
            writer.count(name)
            writer.u8(UInt8(weight.fracBits))
            writer.count(weight.shape.count)
            for dimension in weight.shape { writer.count(dimension) }
        }
        writer.count(instructions.count)
        for (instruction, source) in zip(instructions, sources) {
            writer.u8(instruction.opcode.rawValue)
            writer.u8(instruction.domain.rawValue)
            writer.count(source)
            writer.count(instruction.shape.count)
            for dimension in instruction.shape { writer.count(dimension) }
            var encoder = FieldEncoder(writer: writer)
            instruction.operation.visitFields(&encoder)
            writer = encoder.writer
            writer.encode(instruction.cost)
        }
        writer.count(outputs.count)
        for output in outputs { writer.count(output) }
        writer.u8(inputRange == nil ? 0 : 1)
        if let inputRange {
            writer.u32(inputRange.lowerBound.bitPattern)
            writer.u32(inputRange.upperBound.bitPattern)
        }
        return writer.bytes
    }

    /// Decodes and verifies a program from untrusted bytes.
    public init(decoding bytes: [UInt8], name: String = "the program") throws {
        var reader = ByteReader(bytes, what: name)
        let (fracBits, approx) = try Program.decodeHeader(&reader, bytes, name: name)
        var body = ProgramBodyDecoder(reader: reader, fileSize: bytes.count)
        try body.readStrings()
        let weights = try body.readWeights()
        let instructions = try body.readInstructions(weightCount: weights.count)
        let outputs = try body.readOutputs(instructionCount: instructions.count)
        let inputRange = try body.readInputRange()
        guard body.reader.isAtEnd else { throw body.reader.error("unexpected bytes after the input range") }
        self.init(fracBits: fracBits, approxDReLUBits: approx, weights: weights, instructions: instructions, outputs: outputs, inputRange: inputRange)
        try ProgramVerifier(self).verify()
    }

    /// Checks the header (magic, version, parameters, length, hash); returns the
    /// fractional bits and the approximate-DReLU setting.
    private static func decodeHeader(_ reader: inout ByteReader, _ bytes: [UInt8], name: String) throws -> (fracBits: Int, approx: Int) {
        guard bytes.count >= 4, Array(bytes[0..<4]) == Program.magic else {
            throw BytecodeError("\(name) is not an mpcc program (no MPCB magic)")
        }
        _ = try reader.raw(4)
        let version = try reader.u16()
        guard version == Program.formatVersion else {
            throw BytecodeError("\(name) has format version \(version); this mpcr reads version \(Program.formatVersion)")
        }
        guard try reader.u16() == 0 else { throw reader.error("unknown flags") }
        guard try reader.u8() == 64 else { throw reader.error("the ring is not Z_2^64") }
        let fracBits = Int(try reader.u8())
        guard (1...30).contains(fracBits) else { throw reader.error("fractional bits \(fracBits) are outside 1...30") }
        let approx = Int(try reader.u8())
        guard approx == 0 || Limits.comparedBits.contains(approx) else { throw reader.error("approximate DReLU bits \(approx) are invalid") }
        _ = try reader.u8()
        let storedHash = Array(try reader.raw(32))
        let length = Int(try reader.u32())
        guard length == bytes.count - Program.headerSize else {
            throw bytes.count - Program.headerSize < length
                ? BytecodeError("\(name) is truncated: the header announces \(length) bytes of body, the file has \(bytes.count - Program.headerSize)")
                : BytecodeError("\(name) is corrupt: \(bytes.count - Program.headerSize - length) bytes follow the program")
        }
        guard Program.digest(Array(bytes[0..<12]), Array(bytes[Program.headerSize...])) == storedHash else {
            throw BytecodeError("\(name) is corrupt: its contents do not match the SHA-256 hash in its header")
        }
        return (fracBits, approx)
    }
}

/// Reads a program's body in order (BYTECODE.md): strings, weights, instructions,
/// outputs; every count, index and field is checked against its bound.
struct ProgramBodyDecoder {
    var reader: ByteReader
    let fileSize: Int
    var strings: [String] = []

    init(reader: ByteReader, fileSize: Int) {
        self.reader = reader
        self.fileSize = fileSize
    }

    mutating func readStrings() throws {
        let count = try reader.count(max: fileSize, "string count")
        for _ in 0..<count { strings.append(try reader.string()) }
    }

    private mutating func string(_ what: String) throws -> String {
        let index = try reader.count(max: max(strings.count - 1, 0), what)
        guard index < strings.count else { throw reader.error("\(what) names no string") }
        return strings[index]
    }

    private mutating func shape() throws -> [Int] {
        let rank = try reader.count(max: Program.maxRank, "rank")
        var dims: [Int] = []
        var count = 1
        for _ in 0..<rank {
            let dimension = try reader.count(max: Limits.dimension, "dimension")
            count = count.multipliedReportingOverflow(by: dimension).partialValue
            guard count <= Limits.dimension else { throw reader.error("a tensor has more than 2^30 elements") }
            dims.append(dimension)
        }
        return dims
    }

    mutating func readWeights() throws -> [WeightInfo] {
        let count = try reader.count(max: min(Program.maxWeights, fileSize), "weight count")
        var weights: [WeightInfo] = []
        for _ in 0..<count {
            let weightName = try string("weight name")
            let bits = Int(try reader.u8())
            guard bits <= 62 else { throw reader.error("weight \(weightName) has \(bits) fractional bits") }
            weights.append(WeightInfo(name: weightName, shape: try shape(), fracBits: bits))
        }
        return weights
    }

    mutating func readInstructions(weightCount: Int) throws -> [Instruction] {
        let count = try reader.count(max: min(Program.maxInstructions, fileSize), "instruction count")
        var instructions: [Instruction] = []
        instructions.reserveCapacity(count)
        var totalCost = Cost()
        for position in 0..<count {
            let code = try reader.u8()
            guard let opcode = Opcode(rawValue: code) else { throw reader.error("instruction \(position) has unknown opcode \(code)") }
            guard let domain = Domain(rawValue: try reader.u8()) else { throw reader.error("instruction \(position) has an unknown register domain") }
            let source = try string("source name")
            let resultShape = try shape()
            var fields = opcode.definition.init()
            var decoder = FieldDecoder(reader: reader, registers: position, weights: weightCount, instruction: position)
            try fields.visit(&decoder)
            reader = decoder.reader
            let cost = try reader.decodeCost()
            // Each field is bounded; so is their sum, which `totalCost` computes.
            totalCost = totalCost + cost
            guard totalCost.fieldsWithin(ByteReader.costLimit) else { throw reader.error("the costs of instructions 0...\(position) exceed the limit \(ByteReader.costLimit)") }
            instructions.append(Instruction(fields.operation, shape: resultShape, domain: domain, source: source, cost: cost))
        }
        return instructions
    }

    mutating func readOutputs(instructionCount: Int) throws -> [Int] {
        let count = try reader.count(max: instructionCount, "output count")
        var outputs: [Int] = []
        for _ in 0..<count {
            let output = try reader.count(max: max(instructionCount - 1, 0), "output register")
            guard output < instructionCount else { throw reader.error("an output names no register") }
            outputs.append(output)
        }
        return outputs
    }

    /// A flag, then two float32 bounds: finite, the lower not above the upper.
    mutating func readInputRange() throws -> ClosedRange<Float>? {
        switch try reader.u8() {
        case 0: return nil
        case 1:
            let low = Float(bitPattern: try reader.u32()), high = Float(bitPattern: try reader.u32())
            guard low.isFinite, high.isFinite, low <= high else { throw reader.error("the input range [\(low), \(high)] is invalid") }
            return low...high
        case let flag: throw reader.error("input range flag \(flag) is neither 0 nor 1")
        }
    }
}

extension ByteWriter {
    mutating func encode(_ cost: Cost) {
        count(cost.drelus)
        count(cost.rounds)
        for bytes in [cost.online, cost.offline, cost.session] {
            count(bytes.client)
            count(bytes.server)
            count(bytes.helper)
        }
        count(cost.helperToClient)
    }
}

extension ByteReader {
    static let costLimit = Int(Int64.max / 16)

    mutating func decodeCost() throws -> Cost {
        let limit = ByteReader.costLimit
        var cost = Cost()
        cost.drelus = try count(max: limit, "DReLU count")
        cost.rounds = try count(max: limit, "round count")
        var parts: [RoleBytes] = []
        for _ in 0..<3 {
            parts.append(RoleBytes(client: try count(max: limit, "byte count"), server: try count(max: limit, "byte count"), helper: try count(max: limit, "byte count")))
        }
        (cost.online, cost.offline, cost.session) = (parts[0], parts[1], parts[2])
        cost.helperToClient = try count(max: cost.offline.helper, "helper-to-client byte count")
        return cost
    }
}

/// Writes fields in `visit` order.
struct FieldEncoder: FieldVisitor {
    var writer: ByteWriter

    mutating func operand(_ name: String, _ value: inout Int) { writer.count(value) }
    mutating func operands(_ name: String, _ value: inout [Int]) {
        writer.count(value.count)
        for operand in value { writer.count(operand) }
    }
    mutating func weight(_ name: String, _ value: inout Int) { writer.count(value) }
    mutating func optionalWeight(_ name: String, _ value: inout Int?) { writer.count(value.map { $0 + 1 } ?? 0) }
    mutating func integer(_ name: String, _ value: inout Int, _ range: ClosedRange<Int>) { writer.signed(Int64(value)) }
    mutating func integers(_ name: String, _ value: inout [Int], count: ClosedRange<Int>, _ range: ClosedRange<Int>) {
        writer.count(value.count)
        for element in value { writer.signed(Int64(element)) }
    }
    mutating func blocks(_ name: String, _ value: inout [BlockSize]) {
        // Distinct shapes once, then one index per channel: a layer uses few shapes.
        var distinct: [BlockSize] = [], index: [BlockSize: Int] = [:]
        for block in value where index[block] == nil {
            index[block] = distinct.count
            distinct.append(block)
        }
        writer.count(distinct.count)
        for block in distinct {
            writer.count(block.height)
            writer.count(block.width)
        }
        writer.count(value.count)
        for block in value { writer.count(index[block]!) }
    }
    mutating func taps(_ name: String, _ value: inout [ResizeTap]) {
        writer.count(value.count)
        for tap in value {
            writer.count(tap.index0)
            writer.count(tap.index1)
            writer.count(tap.weight)
        }
    }
}

/// Reads fields in `visit` order and checks each against its range; operands must name
/// earlier registers and weights must exist.
struct FieldDecoder: FieldVisitor {
    var reader: ByteReader
    let registers: Int
    let weights: Int
    let instruction: Int

    private func fail(_ message: String) -> BytecodeError { reader.error("instruction \(instruction): \(message)") }

    mutating func operand(_ name: String, _ value: inout Int) throws {
        let raw = try reader.varint()
        guard raw < UInt64(registers) else { throw fail("operand \(name) = %\(raw) is not an earlier register") }
        value = Int(raw)
    }
    mutating func operands(_ name: String, _ value: inout [Int]) throws {
        // Bounded by the bytes left (an operand takes one at least): a register may repeat.
        let count = try reader.count(max: reader.end - reader.offset, "\(name) count")
        value = []
        for _ in 0..<count {
            var operand = 0
            try self.operand(name, &operand)
            value.append(operand)
        }
    }
    mutating func weight(_ name: String, _ value: inout Int) throws {
        let raw = try reader.varint()
        guard raw < UInt64(weights) else { throw fail("weight \(name) = #\(raw) does not exist") }
        value = Int(raw)
    }
    mutating func optionalWeight(_ name: String, _ value: inout Int?) throws {
        let raw = try reader.varint()
        guard raw <= UInt64(weights) else { throw fail("weight \(name) = #\(raw - 1) does not exist") }
        value = raw == 0 ? nil : Int(raw - 1)
    }
    mutating func integer(_ name: String, _ value: inout Int, _ range: ClosedRange<Int>) throws {
        let raw = try reader.signed()
        guard raw >= Int64(range.lowerBound), raw <= Int64(range.upperBound) else {
            throw fail("\(name) = \(raw) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        value = Int(raw)
    }
    mutating func integers(_ name: String, _ value: inout [Int], count: ClosedRange<Int>, _ range: ClosedRange<Int>) throws {
        let length = try reader.count(max: count.upperBound, "\(name) count")
        guard count.contains(length) else { throw fail("\(name) has \(length) values, expected \(count.lowerBound)...\(count.upperBound)") }
        value = []
        for _ in 0..<length {
            var element = 0
            try integer(name, &element, range)
            value.append(element)
        }
    }
    mutating func blocks(_ name: String, _ value: inout [BlockSize]) throws {
        let distinct = try reader.count(max: 1 << 16, "block shape count")
        var shapes: [BlockSize] = []
        for _ in 0..<distinct {
            let shape = BlockSize(try reader.count(max: Limits.dimension, "block height"), try reader.count(max: Limits.dimension, "block width"))
            guard shape.isPatch || shape == .identity || shape == .zero else { throw fail("block \(shape.height)x\(shape.width) is neither a patch, id nor zero") }
            shapes.append(shape)
        }
        let channels = try reader.count(max: Limits.dimension, "channel count")
        guard channels <= reader.end - reader.offset else { throw BytecodeError("\(reader.what) is truncated (block plan of \(channels) channels)") }
        value = []
        value.reserveCapacity(channels)
        for _ in 0..<channels {
            let index = try reader.count(max: max(shapes.count - 1, 0), "block index")
            guard index < shapes.count else { throw fail("a channel names no block shape") }
            value.append(shapes[index])
        }
    }
    mutating func taps(_ name: String, _ value: inout [ResizeTap]) throws {
        let count = try reader.count(max: Limits.dimension, "\(name) count")
        guard count <= reader.end - reader.offset else { throw BytecodeError("\(reader.what) is truncated (\(count) resize taps)") }
        value = []
        for _ in 0..<count {
            value.append(ResizeTap(
                index0: try reader.count(max: Limits.dimension, "tap index"), index1: try reader.count(max: Limits.dimension, "tap index"),
                weight: try reader.count(max: 1 << 15, "tap weight")))
        }
    }
}
