import IR

/// fold-batchnorm: folds inference batch normalization into the convolution or dense
/// layer before it (W' = W * s, b' = (b - mean) * s + beta with s = gamma / sqrt(var +
/// eps)); a batch norm with no such layer before it becomes a per-channel `mul` and `add`.
public struct FoldBatchNorm: Pass {
    public static let name = "fold-batchnorm"
    public static let summary = "fold BatchNormalization into the preceding conv or dense layer"
    public init() {}

    public func run(on graph: inout Graph) throws -> Bool {
        let constants = graph.constants()
        let definitions = graph.definingNodes()
        let uses = graph.useCounts()
        var rewrite = NodeRewrite()
        for index in graph.nodes.indices {
            // Read the node now: folding an earlier batch norm may have renamed its operand.
            let node = graph.nodes[index]
            guard case .batchNorm(let epsilon) = node.op else { continue }
            let parameters = node.operands.dropFirst().compactMap { constants[$0]?.floats }
            guard parameters.count == 4 else { continue }
            let (gamma, beta, mean, variance) = (parameters[0], parameters[1], parameters[2], parameters[3])
            let scale = zip(gamma, variance).map { $0 / ($1 + epsilon).squareRoot() }
            let shift = (0..<scale.count).map { beta[$0] - mean[$0] * scale[$0] }
            let x = node.operands[0]
            let type = graph.type(of: node.result)

            // Batch norm normalizes axis 1: a conv's channels, or a dense layer's features
            // when its output is [N, features].
            if let linear = FoldableLinear(producing: x, in: graph, definitions: definitions, constants: constants, uses: uses),
                linear.channels == scale.count, linear.node.op != .dense || type.rank == 2
            {
                linear.fold(scale: scale, shift: shift, graph: &graph, rewrite: &rewrite)
                rewrite.replace(index, with: [])
                graph.replaceUses(of: node.result, with: x)
                continue
            }
            // No layer to fold into: y = x * scale + shift with [C, 1, ...] constants.
            let channelShape = [scale.count] + Array(repeating: 1, count: max(type.rank - 2, 0))
            let name = graph.name(of: node.result)
            let scaleValue = rewrite.constant(Tensor(shape: channelShape, floats: scale), name: name + "/scale", before: index, in: &graph)
            let shiftValue = rewrite.constant(Tensor(shape: channelShape, floats: shift), name: name + "/shift", before: index, in: &graph)
            let scaled = graph.addValue(name: name + "/scaled", type: type)
            rewrite.replace(index, with: [
                Node(op: .mul, operands: [x, scaleValue], result: scaled, name: node.name),
                Node(op: .add, operands: [scaled, shiftValue], result: node.result, name: node.name),
            ])
        }
        guard !rewrite.isEmpty else { return false }
        rewrite.apply(to: &graph)
        return true
    }
}
