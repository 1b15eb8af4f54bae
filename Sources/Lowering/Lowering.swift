import Bytecode
import IR

/// A graph construct the bytecode cannot express, named with its node.
public struct LoweringError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Lowers a verified, batch-1 IR graph (after the passes and any block-ReLU plan) to a
/// fixed-point program over Z_2^64 and the server's quantized weights.
///
/// Every shared register holds values with `fracBits` fractional bits. Products (conv,
/// dense, scale, mul) produce twice that and are followed by a `trunc`; pooling and
/// resize multiply by public coefficients with extra bits that a `trunc` removes. Model
/// constants become server weights; only shapes, pooling and resize coefficients and
/// the block plan are public. Trailing softmax, argmax and resize run at the client
/// after the reveal (the epilogue).
public struct Lowering {
    public struct Options: Sendable {
        public var fracBits = 12
        /// Compare only this many bits in each DReLU (nil: exact).
        public var approxDReLUBits: Int?
        /// Dropped low bits per compared layer (by the name of its result), e.g. from
        /// calibration ranges; layers not named get the default window.
        public var droppedBits: [String: Int]
        public init(fracBits: Int = 12, approxDReLUBits: Int? = nil, droppedBits: [String: Int] = [:]) {
            self.fracBits = fracBits
            self.approxDReLUBits = approxDReLUBits
            self.droppedBits = droppedBits
        }
    }

    /// Extra fractional bits of a pooling multiplier beyond the divisor's magnitude:
    /// round(2^shift / d) keeps 12 significant bits.
    static let poolPrecision = 12
    /// Fractional bits of resize coefficients (bilinear weights are exact for 2^k scales).
    static let resizeShift = 8

    let graph: Graph
    let options: Options
    private var program: Program
    private var weights: [[Int64]] = []
    private var lowered: [ValueID: Lowered] = [:]
    private let constants: [ValueID: Tensor]
    private var weightIndex: [String: Int] = [:]

    /// What an IR value became.
    enum Lowered {
        case shared(Int)
        case revealed(Int)
        case constant(Tensor)
    }

    public static func lower(_ graph: Graph, options: Options = Options()) throws -> (program: Program, weights: WeightFile) {
        var lowering = Lowering(graph: graph, options: options)
        try lowering.run()
        // The format's limits (BYTECODE.md): rank 8; names are clipped to 1024 bytes.
        if let deep = lowering.program.instructions.first(where: { $0.shape.count > 8 }) {
            throw LoweringError("'\(deep.source)' computes a tensor of rank \(deep.shape.count); the bytecode holds at most rank 8")
        }
        if let deep = lowering.program.weights.first(where: { $0.shape.count > 8 }) {
            throw LoweringError("weight \(deep.name) has rank \(deep.shape.count); the bytecode holds at most rank 8")
        }
        for index in lowering.program.instructions.indices { lowering.program.instructions[index].source = String(decoding: lowering.program.instructions[index].source.utf8.prefix(1024), as: UTF8.self) }
        for index in lowering.program.weights.indices { lowering.program.weights[index].name = String(decoding: lowering.program.weights[index].name.utf8.prefix(1024), as: UTF8.self) }
        CostModel.annotate(&lowering.program)
        return (lowering.program, WeightFile(programHash: lowering.program.hash, tensors: lowering.weights))
    }

    private init(graph: Graph, options: Options) {
        self.graph = graph
        self.options = options
        self.program = Program(fracBits: options.fracBits, approxDReLUBits: options.approxDReLUBits ?? 0)
        self.constants = graph.constants()
    }

    private var f: Int { options.fracBits }

    private mutating func run() throws {
        guard graph.inputs.count == 1 else { throw LoweringError("the model has \(graph.inputs.count) inputs; secure inference takes exactly one (the client's)") }
        let input = graph.inputs[0]
        guard graph.type(of: input).dtype == .f32 else { throw LoweringError("the model's input is not float32") }
        lowered[input] = .shared(emit(Input(), shape: graph.type(of: input).shape, source: graph.name(of: input)))
        let epilogue = epilogueNodes()
        for (index, node) in graph.nodes.enumerated() {
            if case .constant(let tensor) = node.op {
                lowered[node.result] = .constant(tensor)
                continue
            }
            let label = node.name.isEmpty ? graph.name(of: node.result) : node.name
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

    /// Softmax, argmax, resize and data movement after which nothing but such ops follow
    /// up to the outputs: they run at the client on the revealed output.
    private func epilogueNodes() -> Set<Int> {
        var users: [ValueID: [Int]] = [:]
        for (index, node) in graph.nodes.enumerated() { for operand in node.operands { users[operand, default: []].append(index) } }
        let outputs = Set(graph.outputs)
        var epilogue = Set<Int>()
        // Walk backwards: a node joins when every user is in the epilogue.
        for index in graph.nodes.indices.reversed() {
            let node = graph.nodes[index]
            switch node.op {
            case .softmax, .argMax, .resize, .reshape, .transpose, .slice: break
            default: continue
            }
            let uses = users[node.result] ?? []
            guard uses.allSatisfy({ epilogue.contains($0) }), !uses.isEmpty || outputs.contains(node.result) else { continue }
            epilogue.insert(index)
        }
        return epilogue
    }

    // MARK: - Emission

    private mutating func emit(_ operation: some InstructionDefinition, shape: [Int], domain: Domain = .shared, source: String) -> Int {
        program.instructions.append(Instruction(operation, shape: shape, domain: domain, source: source))
        return program.instructions.count - 1
    }

    /// The shared register of a value; a constant becomes the server's shared tensor.
    private mutating func register(_ value: ValueID, _ label: String) throws -> Int {
        switch lowered[value] {
        case .shared(let register)?: return register
        case .revealed?: throw LoweringError("'\(label)' uses a revealed value inside the secure computation")
        case .constant(let tensor)?:
            var constant = Constant()
            constant.weight = try weight(tensor, bits: f, name: graph.name(of: value))
            let register = emit(constant, shape: tensor.shape, source: graph.name(of: value))
            lowered[value] = .shared(register)
            return register
        case nil: throw LoweringError("'\(label)' uses \(graph.name(of: value)) before it is defined")
        }
    }

    private func constant(_ value: ValueID) -> Tensor? { constants[value] }

    /// The quantized server weight for a constant tensor at `bits` fractional bits.
    private mutating func weight(_ tensor: Tensor, bits: Int, name: String) throws -> Int {
        let key = "\(name)@\(bits)"
        if let known = weightIndex[key] { return known }
        let scale = Double(1 << bits)
        let limit = Double(Int64.max / 4)
        var values: [Int64] = []
        values.reserveCapacity(tensor.elementCount)
        for value in tensor.floats {
            let scaled = (Double(value) * scale).rounded()
            guard scaled.isFinite, abs(scaled) < limit else {
                throw LoweringError("weight \(name) holds \(value), which does not fit the fixed-point ring with \(bits) fractional bits")
            }
            values.append(Int64(scaled))
        }
        program.weights.append(WeightInfo(name: name, shape: tensor.shape, fracBits: bits))
        weights.append(values)
        weightIndex[key] = program.weights.count - 1
        return program.weights.count - 1
    }

    private func fixed(_ value: Float) throws -> Int {
        let scaled = (Double(value) * Double(1 << f)).rounded()
        guard scaled.isFinite, abs(scaled) < Double(Int64.max / 4) else { throw LoweringError("the constant \(value) does not fit the fixed-point ring") }
        return Int(scaled)
    }

    /// The DReLU window: exact, or `--approx-drelu` bits placed where calibration put
    /// them for this layer, else so the window covers magnitudes up to 2^8 (in units)
    /// times `spread` (the largest patch area).
    private func comparison(spread: Int = 1, layer: String) -> Comparison {
        guard let bits = options.approxDReLUBits, bits < 64 else { return .exact }
        if let dropped = options.droppedBits[layer] { return Comparison(bits: bits, dropped: max(0, min(64 - bits, dropped))) }
        let magnitudeBits = f + 8 + spread.log2Ceiling
        return Comparison(bits: bits, dropped: max(0, min(64 - bits, magnitudeBits + 1 - bits)))
    }

    // MARK: - Secure ops

    private mutating func lowerSecure(_ node: Node, _ label: String) throws -> Int {
        let type = graph.type(of: node.result)
        let shape = type.shape
        guard type.dtype == .f32 else { throw LoweringError("\(node.op.mnemonic) '\(label)' computes \(type), but only float tensors can be computed securely") }
        let operands = node.operands
        func x() throws -> Int { try register(operands[0], label) }
        func truncated(_ register: Int, _ bits: Int) -> Int {
            var trunc = Trunc()
            trunc.x = register
            trunc.bits = bits
            return emit(trunc, shape: shape, source: label)
        }
        switch node.op {
        case .conv(let attributes):
            var conv = Conv()
            (conv.x, conv.weight, conv.bias) = try serverWeights(node, label)
            (conv.strides, conv.pads, conv.dilations, conv.group) = (attributes.strides, attributes.pads, attributes.dilations, attributes.group)
            return truncated(emit(conv, shape: shape, source: label), f)
        case .dense:
            var dense = Dense()
            (dense.x, dense.weight, dense.bias) = try serverWeights(node, label)
            return truncated(emit(dense, shape: shape, source: label), f)
        case .batchNorm(let epsilon):
            // Not folded into a conv: y = x * s + t per channel, s and t server weights.
            let parts = try operands[1...].map { value -> [Float] in
                guard let tensor = constant(value) else { throw LoweringError("batch_norm '\(label)' has computed parameters") }
                return tensor.floats
            }
            let s = zip(parts[0], parts[3]).map { $0 / ($1 + epsilon).squareRoot() }
            let t = parts[1].indices.map { parts[1][$0] - parts[2][$0] * s[$0] }
            let channelShape = [shape[1]] + Array(repeating: 1, count: shape.count - 2)
            let scaled = try scaleByConstant(try x(), Tensor(shape: channelShape, floats: s), name: label + ".scale", shape: shape, label: label)
            return try addConstant(scaled, Tensor(shape: channelShape, floats: t), name: label + ".shift", shape: shape, label: label)
        case .relu:
            var relu = ReLU()
            relu.x = try x()
            relu.comparison = comparison(layer: graph.name(of: node.result))
            return emit(relu, shape: shape, source: label)
        case .relu6:
            return try clip(try x(), low: 0, high: 6, shape: shape, label: label, layer: graph.name(of: node.result))
        case .clip(let low, let high):
            return try clip(try x(), low: low, high: high, shape: shape, label: label, layer: graph.name(of: node.result))
        case .blockReLU(let plan):
            var block = BlockReLU()
            block.x = try x()
            block.blocks = plan.blocks.map { BlockShape($0.height, $0.width) }
            block.comparison = comparison(spread: plan.blocks.filter(\.isPatch).map { $0.height * $0.width }.max() ?? 1, layer: graph.name(of: node.result))
            return emit(block, shape: shape, source: label)
        case .maxPool(let pool):
            var max = MaxPool()
            max.x = try x()
            max.window = window(pool)
            max.comparison = comparison(spread: 2, layer: graph.name(of: node.result))
            return emit(max, shape: shape, source: label)
        case .avgPool(let pool):
            var average = AvgPool()
            average.x = try x()
            average.window = window(pool)
            average.countIncludePad = pool.countIncludePad
            average.shift = Lowering.poolPrecision + (pool.kernel[0] * pool.kernel[1]).log2Ceiling
            return truncated(emit(average, shape: shape, source: label), average.shift)
        case .globalAvgPool:
            var average = GlobalAvgPool()
            average.x = try x()
            let count = graph.type(of: operands[0]).shape.dropFirst(2).reduce(1, *)
            average.shift = Lowering.poolPrecision + count.log2Ceiling
            return truncated(emit(average, shape: shape, source: label), average.shift)
        case .add, .sub, .mul, .div:
            return try arithmetic(node, shape: shape, label: label)
        case .reshape:
            return emit(Reshape(try x()), shape: shape, source: label)
        case .identity:
            return try x()
        case .transpose(let perm):
            var transpose = Transpose()
            transpose.x = try x()
            transpose.perm = perm
            return emit(transpose, shape: shape, source: label)
        case .slice(let starts, let steps, _):
            var slice = Slice()
            slice.x = try x()
            (slice.starts, slice.steps) = (starts, steps)
            return emit(slice, shape: shape, source: label)
        case .concat(let axis):
            var concat = Concat()
            concat.xs = try operands.map { try register($0, label) }
            concat.axis = axis
            return emit(concat, shape: shape, source: label)
        case .pad(let pads, let value):
            var pad = Pad()
            pad.x = try x()
            pad.pads = pads
            pad.value = try fixed(value)
            return emit(pad, shape: shape, source: label)
        case .resize(let attributes):
            var resize = try resizeTaps(attributes, input: graph.type(of: operands[0]).shape)
            resize.x = try x()
            let result = emit(resize, shape: shape, source: label)
            return resize.shift == 0 ? result : truncated(result, 2 * resize.shift)
        case .softmax, .argMax:
            throw LoweringError("\(node.op.mnemonic) '\(label)' is followed by more layers; it is supported only at the end of the network (at the client, after the reveal)")
        case .constant:
            preconditionFailure("constants are handled by the caller")
        }
    }

    /// The input register, weight and bias of a conv or dense layer: constant weights
    /// (the server's) at f fractional bits, the bias at 2f.
    private mutating func serverWeights(_ node: Node, _ label: String) throws -> (x: Int, weight: Int, bias: Int?) {
        let operands = node.operands
        guard let w = constant(operands[1]) else {
            throw LoweringError("\(node.op.mnemonic) '\(label)' has a computed weight; only the server's constant weights are supported")
        }
        let x = try register(operands[0], label)
        let weightIndex = try weight(w, bits: f, name: graph.name(of: operands[1]))
        var bias: Int?
        if operands.count > 2 {
            guard let b = constant(operands[2]) else { throw LoweringError("\(node.op.mnemonic) '\(label)' has a computed bias") }
            bias = try weight(b, bits: 2 * f, name: graph.name(of: operands[2]))
        }
        return (x, weightIndex, bias)
    }

    private func window(_ pool: Pool2D) -> Window {
        var window = Window()
        (window.kernel, window.strides, window.pads, window.dilations, window.ceilMode) = (pool.kernel, pool.strides, pool.pads, pool.dilations, pool.ceilMode)
        return window
    }

    /// clip(x, lo, hi) = lo + relu(x - lo) - relu(x - hi), dropping an infinite side.
    private mutating func clip(_ x: Int, low: Float, high: Float, shape: [Int], label: String, layer: String) throws -> Int {
        func shifted(_ register: Int, by value: Int) -> Int {
            var add = AddPublic()
            add.x = register
            add.value = value
            return emit(add, shape: shape, source: label)
        }
        func relu(_ register: Int) -> Int {
            var relu = ReLU()
            relu.x = register
            relu.comparison = comparison(spread: 2, layer: layer)
            return emit(relu, shape: shape, source: label)
        }
        switch (low.isFinite, high.isFinite) {
        case (true, true):
            let lo = try fixed(low), hi = try fixed(high)
            let lower = shifted(relu(shifted(x, by: -lo)), by: lo)
            var sub = Sub()
            sub.a = lower
            sub.b = relu(shifted(x, by: -hi))
            return emit(sub, shape: shape, source: label)
        case (true, false):
            let lo = try fixed(low)
            return shifted(relu(shifted(x, by: -lo)), by: lo)
        case (false, true):
            // hi - relu(hi - x)
            let hi = try fixed(high)
            var neg = Neg()
            neg.x = x
            let below = relu(shifted(emit(neg, shape: shape, source: label), by: hi))
            var negBelow = Neg()
            negBelow.x = below
            return shifted(emit(negBelow, shape: shape, source: label), by: hi)
        case (false, false):
            return x
        }
    }

    private mutating func scaleByConstant(_ x: Int, _ tensor: Tensor, name: String, shape: [Int], label: String) throws -> Int {
        var scale = Scale()
        scale.x = x
        scale.weight = try weight(tensor, bits: f, name: name)
        let product = emit(scale, shape: shape, source: label)
        var trunc = Trunc()
        trunc.x = product
        trunc.bits = f
        return emit(trunc, shape: shape, source: label)
    }

    private mutating func addConstant(_ x: Int, _ tensor: Tensor, name: String, shape: [Int], label: String) throws -> Int {
        var add = AddWeight()
        add.x = x
        add.weight = try weight(tensor, bits: f, name: name)
        return emit(add, shape: shape, source: label)
    }

    private mutating func arithmetic(_ node: Node, shape: [Int], label: String) throws -> Int {
        let (left, right) = (node.operands[0], node.operands[1])
        let leftConstant = constant(left), rightConstant = constant(right)
        func name(_ value: ValueID) -> String { graph.name(of: value) }
        func unsupported(_ why: String) -> LoweringError { LoweringError("\(node.op.mnemonic) '\(label)': \(why)") }
        switch (leftConstant, rightConstant) {
        case (nil, nil):
            let a = try register(left, label), b = try register(right, label)
            switch node.op {
            case .add:
                var add = Add()
                (add.a, add.b) = (a, b)
                return emit(add, shape: shape, source: label)
            case .sub:
                var sub = Sub()
                (sub.a, sub.b) = (a, b)
                return emit(sub, shape: shape, source: label)
            case .mul:
                var mul = Mul()
                (mul.a, mul.b) = (a, b)
                let product = emit(mul, shape: shape, source: label)
                var trunc = Trunc()
                trunc.x = product
                trunc.bits = f
                return emit(trunc, shape: shape, source: label)
            default:
                throw unsupported("division by a computed tensor has no secure protocol here")
            }
        case (let c?, nil), (nil, let c?):
            let computed = leftConstant == nil ? left : right
            let x = try register(computed, label)
            guard program.instructions[x].shape == shape else {
                throw unsupported("the constant would broadcast the computed operand to a larger shape")
            }
            let constantName = name(leftConstant == nil ? right : left)
            switch node.op {
            case .add:
                return try addConstant(x, c, name: constantName, shape: shape, label: label)
            case .sub where leftConstant == nil:
                return try addConstant(x, Tensor(shape: c.shape, floats: c.floats.map { -$0 }), name: constantName + ".negated", shape: shape, label: label)
            case .sub:
                var neg = Neg()
                neg.x = x
                return try addConstant(emit(neg, shape: shape, source: label), c, name: constantName, shape: shape, label: label)
            case .mul:
                return try scaleByConstant(x, c, name: constantName, shape: shape, label: label)
            case .div where leftConstant == nil:
                return try scaleByConstant(x, Tensor(shape: c.shape, floats: c.floats.map { 1 / $0 }), name: constantName + ".reciprocal", shape: shape, label: label)
            default:
                throw unsupported("division by a computed tensor has no secure protocol here")
            }
        case (.some, .some):
            throw unsupported("both operands are constants; run the fold-constants pass first")
        }
    }

    /// Resize taps with coefficients out of 2^resizeShift (nearest: weight 0, shift 0).
    private func resizeTaps(_ attributes: IR.Resize, input: [Int]) throws -> Bytecode.Resize {
        let rank = input.count
        guard rank >= 2, input.dropLast(2).elementsEqual(attributes.sizes.dropLast(2)) else {
            throw LoweringError("resize changes axes other than the last two")
        }
        var resize = Bytecode.Resize()
        resize.shift = attributes.mode == .nearest ? 0 : Lowering.resizeShift
        let one = Float(1 << resize.shift)
        func convert(_ taps: [IR.ResizeTap]) -> [Bytecode.ResizeTap] {
            taps.map { Bytecode.ResizeTap(index0: $0.index0, index1: $0.index1, weight: Int(($0.weight * one).rounded())) }
        }
        resize.rows = convert(attributes.taps(axis: rank - 2, inputSize: input[rank - 2]))
        resize.columns = convert(attributes.taps(axis: rank - 1, inputSize: input[rank - 1]))
        return resize
    }

    // MARK: - Epilogue

    private mutating func lowerEpilogue(_ node: Node, _ label: String) throws -> Lowered {
        let type = graph.type(of: node.result)
        let operand: Int
        switch lowered[node.operands[0]] {
        case .shared(let register)?:
            operand = emit(Reveal(register), shape: program.instructions[register].shape, domain: .revealed, source: label)
        case .revealed(let register)?:
            operand = register
        default:
            throw LoweringError("\(node.op.mnemonic) '\(label)' has a constant operand")
        }
        switch node.op {
        case .reshape:
            return .revealed(emit(Reshape(operand), shape: type.shape, domain: .revealed, source: label))
        case .transpose(let perm):
            var transpose = Transpose()
            transpose.x = operand
            transpose.perm = perm
            return .revealed(emit(transpose, shape: type.shape, domain: .revealed, source: label))
        case .slice(let starts, let steps, _):
            var slice = Slice()
            slice.x = operand
            (slice.starts, slice.steps) = (starts, steps)
            return .revealed(emit(slice, shape: type.shape, domain: .revealed, source: label))
        case .softmax(let axis):
            var softmax = Softmax()
            softmax.x = operand
            softmax.axis = axis
            return .revealed(emit(softmax, shape: type.shape, domain: .revealed, source: label))
        case .argMax(let attributes):
            var argMax = ArgMax()
            argMax.x = operand
            (argMax.axis, argMax.keepDims, argMax.selectLastIndex) = (attributes.axis, attributes.keepDims, attributes.selectLastIndex)
            return .revealed(emit(argMax, shape: type.shape, domain: .revealed, source: label))
        case .resize(let attributes):
            var resize = try resizeTaps(attributes, input: program.instructions[operand].shape)
            resize.x = operand
            return .revealed(emit(resize, shape: type.shape, domain: .revealed, source: label))
        default:
            preconditionFailure("only softmax, argmax, resize and data movement join the epilogue")
        }
    }
}

extension Int {
    /// ceil(log2(self)) for self >= 1.
    var log2Ceiling: Int { self <= 1 ? 0 : Int.bitWidth - (self - 1).leadingZeroBitCount }
}
