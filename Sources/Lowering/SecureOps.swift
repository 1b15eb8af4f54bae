import Bytecode
import IR

/// One lowering per IR op on shared registers.
extension Lowering {
    mutating func lowerSecure(_ node: Node, _ label: String) throws -> Int {
        let type = graph.type(of: node.result)
        let shape = type.shape
        // Besides floats, only argmax indices (integers, exact in fixed point) are
        // computed; integer constants are folded before lowering.
        guard type.dtype == .f32 || node.op.kind == .argMax else { throw LoweringError("\(node.op.mnemonic) '\(label)' computes \(type), but only float tensors can be computed securely") }
        let operands = node.operands
        let layer = graph.name(of: node.result)
        func x() throws -> Int { try register(operands[0], label) }
        func emitted(_ operation: some InstructionDefinition) -> Int { emit(operation, shape: shape, source: label) }
        switch node.op {
        case .conv(let attributes):
            var conv = Conv()
            let bits: Int
            (conv.x, conv.weight, conv.bias, bits) = try serverWeights(node, label)
            (conv.strides, conv.pads, conv.dilations, conv.group) = (attributes.strides, attributes.pads, attributes.dilations, attributes.group)
            return truncated(emitted(conv), bits: bits, shape: shape, label: label)
        case .dense:
            var dense = Dense()
            let bits: Int
            (dense.x, dense.weight, dense.bias, bits) = try serverWeights(node, label)
            return truncated(emitted(dense), bits: bits, shape: shape, label: label)
        case .batchNorm(let epsilon):
            return try batchNorm(node, epsilon: epsilon, shape: shape, label: label)
        case .relu:
            return emitted(ReLU(try x(), comparison: comparison(layer: layer)))
        case .relu6:
            return try clip(try x(), low: 0, high: 6, shape: shape, label: label, layer: layer)
        case .clip(let low, let high):
            return try clip(try x(), low: low, high: high, shape: shape, label: label, layer: layer)
        case .blockReLU(let plan):
            var block = BlockReLU()
            block.x = try x()
            block.blocks = plan.blocks
            block.comparison = comparison(spread: plan.blocks.filter(\.isPatch).map { $0.height * $0.width }.max() ?? 1, layer: layer)
            return emitted(block)
        case .maxPool(let pool):
            var max = MaxPool()
            (max.x, max.window, max.comparison) = (try x(), window(pool), comparison(spread: 2, layer: layer))
            return emitted(max)
        case .avgPool(let pool):
            var average = AvgPool()
            (average.x, average.window, average.countIncludePad) = (try x(), window(pool), pool.countIncludePad)
            average.shift = Lowering.poolShift(count: pool.kernel[0] * pool.kernel[1], narrow: nodePrecision.ring == .z32)
            return truncated(emitted(average), bits: average.shift, shape: shape, label: label)
        case .globalAvgPool:
            let shift = Lowering.poolShift(count: poolCount(node)!, narrow: nodePrecision.ring == .z32)
            return truncated(emitted(GlobalAvgPool(try x(), shift: shift)), bits: shift, shape: shape, label: label)
        case .add, .sub, .mul, .div:
            return try arithmetic(node, shape: shape, label: label)
        case .reshape:
            return emitted(Reshape(try x()))
        case .identity:
            return try x()
        case .transpose(let perm):
            return emitted(Transpose(try x(), perm: perm))
        case .slice(let starts, let steps, _):
            return emitted(Slice(try x(), starts: starts, steps: steps))
        case .concat(let axis):
            return emitted(Concat(try operands.map { try register($0, label) }, axis: axis))
        case .pad(let pads, let value):
            return emitted(Pad(try x(), pads: pads, value: try fixed(value)))
        case .resize(let attributes):
            let resize = try resizeTaps(attributes, input: graph.type(of: operands[0]).shape, x: try x())
            let result = emitted(resize)
            return truncated(result, bits: 2 * resize.shift, shape: shape, label: label)
        case .argMax(let attributes):
            var argMax = ArgMax()
            (argMax.x, argMax.axis, argMax.keepDims, argMax.selectLastIndex) = (try x(), attributes.axis, attributes.keepDims, attributes.selectLastIndex)
            argMax.comparison = comparison(spread: 2, layer: layer)
            return emitted(argMax)
        case .softmax:
            throw LoweringError("softmax '\(label)' is followed by more layers; it is supported only at the end of the network (at the client, after the reveal)")
        case .constant:
            preconditionFailure("constants are handled by the caller")
        }
    }

    /// The input register, weight and bias of a conv or dense layer and the weight's
    /// fractional bits w: constant weights (the server's) at w, the bias at f + w (the
    /// product's bits).
    mutating func serverWeights(_ node: Node, _ label: String) throws -> (x: Int, weight: Int, bias: Int?, bits: Int) {
        let operands = node.operands
        guard let w = constant(operands[1]) else {
            throw LoweringError("\(node.op.mnemonic) '\(label)' has a computed weight; only the server's constant weights are supported")
        }
        let x = try register(operands[0], label)
        let bits = nodePrecision.weightBits ?? productWeightBits(w)
        let weightIndex = try weight(w, bits: bits, name: graph.name(of: operands[1]))
        var bias: Int?
        if operands.count > 2 {
            guard let b = constant(operands[2]) else { throw LoweringError("\(node.op.mnemonic) '\(label)' has a computed bias") }
            bias = try weight(b, bits: f + bits, name: graph.name(of: operands[2]))
        }
        return (x, weightIndex, bias, bits)
    }

    /// Drops a product's `bits` extra fractional bits (nothing to drop: no instruction),
    /// exactly with `exactTruncation`.
    mutating func truncated(_ register: Int, bits: Int, shape: [Int], label: String) -> Int {
        bits == 0 ? register : emit(Trunc(register, bits: bits, exact: options.exactTruncation), shape: shape, source: label)
    }
}
