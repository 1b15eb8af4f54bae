import Bytecode
import IR

/// IR ops that lower to several instructions: clip and ReLU6 from ReLUs, unfolded batch
/// normalization, and arithmetic with a constant or between computed tensors.
extension Lowering {
    /// clip(x, lo, hi) = lo + relu(x - lo) - relu(x - hi), dropping an infinite side. The
    /// two ReLUs are one instruction over both shifted copies (stacked along axis 0), so
    /// they share their rounds.
    mutating func clip(_ x: Int, low: Float, high: Float, shape: [Int], label: String, layer: String) throws -> Int {
        func emitted(_ operation: some InstructionDefinition) -> Int { emit(operation, shape: shape, source: label) }
        func shifted(_ register: Int, by value: Int) -> Int { value == 0 ? register : emitted(AddPublic(register, value: value)) }
        func relu(_ register: Int) -> Int { emitted(ReLU(register, comparison: comparison(spread: 2, layer: layer))) }
        switch (low.isFinite, high.isFinite) {
        case (true, true):
            let lo = try fixed(low), hi = try fixed(high)
            let both = sharedReLU([shifted(x, by: -lo), shifted(x, by: -hi)], shape: shape, label: label, layer: layer)
            return emitted(Sub(shifted(both[0], by: lo), both[1]))
        case (true, false):
            let lo = try fixed(low)
            return shifted(relu(shifted(x, by: -lo)), by: lo)
        case (false, true):
            // hi - relu(hi - x)
            let hi = try fixed(high)
            let below = relu(shifted(emitted(Neg(x)), by: hi))
            return shifted(emitted(Neg(below)), by: hi)
        case (false, false):
            return x
        }
    }

    /// relu of each of `registers` (all of `shape`) as one ReLU instruction over their
    /// concatenation along axis 0: the bytes of separate ones, the rounds of one.
    mutating func sharedReLU(_ registers: [Int], shape: [Int], label: String, layer: String) -> [Int] {
        guard !shape.isEmpty else {
            return registers.map { emit(ReLU($0, comparison: comparison(spread: 2, layer: layer)), shape: shape, source: label) }
        }
        var stacked = shape
        stacked[0] *= registers.count
        let all = emit(Concat(registers, axis: 0), shape: stacked, source: label)
        let relu = emit(ReLU(all, comparison: comparison(spread: 2, layer: layer)), shape: stacked, source: label)
        let steps = [Int](repeating: 1, count: shape.count)
        return registers.indices.map { index in
            var starts = [Int](repeating: 0, count: shape.count)
            starts[0] = index * shape[0]
            return emit(Slice(relu, starts: starts, steps: steps), shape: shape, source: label)
        }
    }

    /// Not folded into a conv: y = x * s + t per channel, s and t server weights.
    mutating func batchNorm(_ node: Node, epsilon: Float, shape: [Int], label: String) throws -> Int {
        let parts = try node.operands[1...].map { value -> [Float] in
            guard let tensor = constant(value) else { throw LoweringError("batch_norm '\(label)' has computed parameters") }
            return tensor.floats
        }
        let s = zip(parts[0], parts[3]).map { $0 / ($1 + epsilon).squareRoot() }
        let t = parts[1].indices.map { parts[1][$0] - parts[2][$0] * s[$0] }
        let channelShape = [shape[1]] + Array(repeating: 1, count: shape.count - 2)
        let scaled = try scaleByConstant(try register(node.operands[0], label), Tensor(shape: channelShape, floats: s), name: label + ".scale", shape: shape, label: label)
        return try addConstant(scaled, Tensor(shape: channelShape, floats: t), name: label + ".shift", shape: shape, label: label)
    }

    mutating func scaleByConstant(_ x: Int, _ tensor: Tensor, name: String, shape: [Int], label: String) throws -> Int {
        let bits = productWeightBits(tensor)
        let product = emit(Scale(x: x, weight: try weight(tensor, bits: bits, name: name)), shape: shape, source: label)
        return truncated(product, bits: bits, shape: shape, label: label)
    }

    mutating func addConstant(_ x: Int, _ tensor: Tensor, name: String, shape: [Int], label: String) throws -> Int {
        emit(AddWeight(x: x, weight: try weight(tensor, bits: f, name: name)), shape: shape, source: label)
    }

    mutating func arithmetic(_ node: Node, shape: [Int], label: String) throws -> Int {
        let (left, right) = (node.operands[0], node.operands[1])
        switch (constant(left), constant(right)) {
        case (nil, nil):
            return try arithmetic(node.op, try register(left, label), try register(right, label), shape: shape, label: label)
        case (let c?, nil):
            return try arithmetic(node.op, constant: c, named: graph.name(of: left), onLeftOf: right, shape: shape, label: label)
        case (nil, let c?):
            return try arithmetic(node.op, right: c, named: graph.name(of: right), of: left, shape: shape, label: label)
        case (.some, .some):
            throw LoweringError("\(node.op.mnemonic) '\(label)': both operands are constants; run the fold-constants pass first")
        }
    }

    /// Both operands computed: local sums, or a Beaver product.
    private mutating func arithmetic(_ op: Op, _ a: Int, _ b: Int, shape: [Int], label: String) throws -> Int {
        switch op {
        case .add: return emit(Add(a, b), shape: shape, source: label)
        case .sub: return emit(Sub(a, b), shape: shape, source: label)
        case .mul: return truncated(emit(Mul(a, b), shape: shape, source: label), bits: f, shape: shape, label: label)
        default: throw LoweringError("\(op.mnemonic) '\(label)': division by a computed tensor has no secure protocol here")
        }
    }

    /// The computed operand of `x op c` (`c` on the right).
    private mutating func arithmetic(_ op: Op, right c: Tensor, named name: String, of value: ValueID, shape: [Int], label: String) throws -> Int {
        let x = try computedOperand(value, op, shape: shape, label: label)
        switch op {
        case .add: return try addConstant(x, c, name: name, shape: shape, label: label)
        case .sub: return try addConstant(x, Tensor(shape: c.shape, floats: c.floats.map { -$0 }), name: name + ".negated", shape: shape, label: label)
        case .mul: return try scaleByConstant(x, c, name: name, shape: shape, label: label)
        default: return try scaleByConstant(x, Tensor(shape: c.shape, floats: c.floats.map { 1 / $0 }), name: name + ".reciprocal", shape: shape, label: label)
        }
    }

    /// `c op x` (`c` on the left).
    private mutating func arithmetic(_ op: Op, constant c: Tensor, named name: String, onLeftOf value: ValueID, shape: [Int], label: String) throws -> Int {
        let x = try computedOperand(value, op, shape: shape, label: label)
        switch op {
        case .add: return try addConstant(x, c, name: name, shape: shape, label: label)
        case .sub: return try addConstant(emit(Neg(x), shape: shape, source: label), c, name: name, shape: shape, label: label)
        case .mul: return try scaleByConstant(x, c, name: name, shape: shape, label: label)
        default: throw LoweringError("\(op.mnemonic) '\(label)': division by a computed tensor has no secure protocol here")
        }
    }

    /// The computed operand of an op with a constant, which must not broadcast it larger.
    private mutating func computedOperand(_ value: ValueID, _ op: Op, shape: [Int], label: String) throws -> Int {
        let x = try register(value, label)
        guard program.instructions[x].shape == shape else {
            throw LoweringError("\(op.mnemonic) '\(label)': the constant would broadcast the computed operand to a larger shape")
        }
        return x
    }
}
