import IR

/// remove-identity: drops ops that return their operand unchanged: `identity`, and
/// reshapes, transposes, pads, slices, single-operand concats and resizes that keep the
/// shape and data as they are.
public struct RemoveIdentity: Pass {
    public static let name = "remove-identity"
    public static let summary = "remove Identity, Dropout and shape ops that change nothing"
    public init() {}

    public func run(on graph: inout Graph) throws -> Bool {
        var changed = false
        for index in graph.nodes.indices {
            // Read the node now: an earlier removal may have rewired its operand.
            let node = graph.nodes[index]
            guard isIdentity(node, graph) else { continue }
            let operand = node.operands[0]
            // A graph input that is also an output would lose its name; keep those.
            if graph.outputs.contains(node.result) && graph.inputs.contains(operand) { continue }
            graph.replaceUses(of: node.result, with: operand)
            changed = true
        }
        return changed
    }

    func isIdentity(_ node: Node, _ graph: Graph) -> Bool {
        guard let first = node.operands.first else { return false }
        let sameType = graph.type(of: first) == graph.type(of: node.result)
        switch node.op {
        case .identity: return true
        case .reshape: return sameType
        case .transpose(let perm): return perm == Array(perm.indices)
        case .pad(let pads, _): return pads.allSatisfy { $0 == 0 }
        case .slice(let starts, let steps, _): return sameType && starts.allSatisfy { $0 == 0 } && steps.allSatisfy { $0 == 1 }
        case .concat: return node.operands.count == 1
        // At scale 1 every coordinate mode but tf_half_pixel_for_nearest maps i to i.
        case .resize(let resize): return sameType && resize.scales.allSatisfy { $0 == 1 } && resize.coordinateMode != .tfHalfPixelForNearest
        case .constant, .conv, .dense, .batchNorm, .relu, .relu6, .clip, .blockReLU, .maxPool, .avgPool, .globalAvgPool, .add, .sub,
            .mul, .div, .softmax, .argMax:
            return false
        }
    }
}
