import IR

/// Collects edits to a graph's node list while a pass walks it, then applies them at
/// once: nodes inserted before a position (new weights go right before their user) and
/// nodes replaced. Positions refer to the list as it was when the walk started.
struct NodeRewrite {
    private var before: [Int: [Node]] = [:]
    private var replacements: [Int: [Node]] = [:]

    /// Adds a `constant` node placed before node `index`; returns its value.
    mutating func constant(_ tensor: Tensor, name: String, before index: Int, in graph: inout Graph) -> ValueID {
        let value = graph.addValue(name: name, type: tensor.type)
        before[index, default: []].append(Node(op: .constant(tensor), operands: [], result: value, name: ""))
        return value
    }

    /// Replaces node `index` by `nodes` (in order).
    mutating func replace(_ index: Int, with nodes: [Node]) {
        replacements[index] = nodes
    }

    var isEmpty: Bool { before.isEmpty && replacements.isEmpty }

    func apply(to graph: inout Graph) {
        var nodes: [Node] = []
        for (index, node) in graph.nodes.enumerated() {
            nodes += before[index] ?? []
            nodes += replacements[index] ?? [node]
        }
        graph.nodes = nodes
    }
}

/// A convolution or dense layer with constant weights whose result feeds only one op:
/// a per-output-channel scale or shift after it can be folded into its weights and bias.
struct FoldableLinear {
    var index: Int
    var node: Node
    var weight: Tensor
    var bias: Tensor?
    /// Output channels (conv: axis 1; dense: the last axis).
    var channels: Int

    /// The linear producer of `value`, if it is foldable.
    init?(producing value: ValueID, in graph: Graph, definitions: [ValueID: Int], constants: [ValueID: Tensor], uses: [Int]) {
        guard let index = definitions[value], uses[value.index] == 1 else { return nil }
        let node = graph.nodes[index]
        guard let weight = constants[node.operands[1]] else { return nil }
        switch node.op {
        case .conv: channels = weight.shape[0]
        case .dense: channels = weight.shape[0]
        default: return nil
        }
        self.index = index
        self.node = node
        self.weight = weight
        if node.operands.count > 2 {
            guard let bias = constants[node.operands[2]] else { return nil }
            self.bias = bias
        } else {
            self.bias = nil
        }
    }

    /// The per-channel factors of a constant that broadcasts along this layer's output
    /// channels only (a scalar or a [C] vector on the channel axis), or nil.
    func perChannel(_ constant: Tensor, outputType: TensorType) -> [Float]? {
        let values = constant.floats
        if values.count == 1 { return Array(repeating: values[0], count: channels) }
        guard values.count == channels, constant.shape.count <= outputType.rank else { return nil }
        let padded = Array(repeating: 1, count: outputType.rank - constant.shape.count) + constant.shape
        let axis: Int
        switch node.op {
        case .conv: axis = 1
        default: axis = outputType.rank - 1
        }
        guard padded.enumerated().allSatisfy({ $0.offset == axis ? $0.element == channels : $0.element == 1 }) else { return nil }
        return values
    }

    /// Rewrites the layer to compute `scale * (W x + b) + shift` per output channel.
    func fold(scale: [Float], shift: [Float], graph: inout Graph, rewrite: inout NodeRewrite) {
        var weights = weight.floats
        let perChannel = weights.count / channels
        for channel in 0..<channels {
            for index in (channel * perChannel)..<((channel + 1) * perChannel) { weights[index] *= scale[channel] }
        }
        let oldBias = bias?.floats ?? Array(repeating: 0, count: channels)
        let newBias = (0..<channels).map { oldBias[$0] * scale[$0] + shift[$0] }
        let weightValue = rewrite.constant(Tensor(shape: weight.shape, floats: weights), name: graph.name(of: node.operands[1]), before: index, in: &graph)
        let biasName = node.operands.count > 2 ? graph.name(of: node.operands[2]) : graph.name(of: node.result) + "/bias"
        let biasValue = rewrite.constant(Tensor(shape: [channels], floats: newBias), name: biasName, before: index, in: &graph)
        var folded = node
        folded.operands = [node.operands[0], weightValue, biasValue]
        rewrite.replace(index, with: [folded])
    }
}
