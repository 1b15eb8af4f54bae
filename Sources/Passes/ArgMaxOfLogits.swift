import IR

/// argmax-of-logits: an argmax of a softmax along the same axis reads the softmax's
/// operand instead. Softmax is increasing along its axis, so the indices are the same
/// (up to float ties the softmax's rounding would create), and the argmax can then be
/// computed on shares: a softmax cannot, and would otherwise hand the client every
/// probability. A softmax that is also an output stays.
public struct ArgMaxOfLogits: Pass {
    public static let name = "argmax-of-logits"
    public static let summary = "argmax(softmax(x)) along the softmax's axis reads x"
    public init() {}

    public func run(on graph: inout Graph) throws -> Bool {
        let definitions = graph.definingNodes()
        var changed = false
        for index in graph.nodes.indices {
            guard case .argMax(let argMax) = graph.nodes[index].op, let producer = definitions[graph.nodes[index].operands[0]],
                  case .softmax(let axis) = graph.nodes[producer].op, axis == argMax.axis else { continue }
            graph.nodes[index].operands[0] = graph.nodes[producer].operands[0]
            changed = true
        }
        return changed
    }
}
