import FloatEngine
import IR

/// fold-constants: evaluates every op whose operands are all constants (as the float
/// engine computes it) and replaces it by a `constant`.
public struct FoldConstants: Pass {
    public static let name = "fold-constants"
    public static let summary = "evaluate ops whose operands are all constants"
    public init() {}

    public func run(on graph: inout Graph) throws -> Bool {
        var constants = graph.constants()
        var changed = false
        for index in graph.nodes.indices {
            let node = graph.nodes[index]
            if case .constant = node.op { continue }
            let operands = node.operands.compactMap { constants[$0] }
            guard operands.count == node.operands.count else { continue }
            let result = try FloatEngine.evaluate(node.op, operands, resultType: graph.type(of: node.result))
            graph.nodes[index] = Node(op: .constant(result), operands: [], result: node.result, name: node.name)
            constants[node.result] = result
            changed = true
        }
        return changed
    }
}
