import IR

/// fold-scale-shift: folds a multiplication, division, addition or subtraction by a
/// per-output-channel constant into the convolution or dense layer that feeds it (what
/// exporters leave of a decomposed or affine BatchNorm, and what fold-batchnorm emits
/// when nothing came before).
public struct FoldScaleShift: Pass {
    public static let name = "fold-scale-shift"
    public static let summary = "fold per-channel mul/div/add/sub by constants into the preceding conv or dense layer"
    public init() {}

    public func run(on graph: inout Graph) throws -> Bool {
        var changedAny = false
        // One fold per round: a folded layer gets new weights the next round must see.
        while try foldOne(&graph) {
            changedAny = true
            graph.eliminateDeadCode()
        }
        return changedAny
    }

    private func foldOne(_ graph: inout Graph) throws -> Bool {
        let constants = graph.constants()
        let definitions = graph.definingNodes()
        let uses = graph.useCounts()
        for (index, node) in graph.nodes.enumerated() {
            let commutative: Bool
            switch node.op {
            case .mul, .add: commutative = true
            case .sub, .div: commutative = false
            default: continue
            }
            let type = graph.type(of: node.result)
            for (valueSide, constantSide) in commutative ? [(0, 1), (1, 0)] : [(0, 1)] {
                let x = node.operands[valueSide]
                guard let constant = constants[node.operands[constantSide]], graph.type(of: x) == type,
                    let linear = FoldableLinear(producing: x, in: graph, definitions: definitions, constants: constants, uses: uses),
                    let factors = linear.perChannel(constant, outputType: type)
                else { continue }
                if case .div = node.op, factors.contains(0) { continue }
                let ones = [Float](repeating: 1, count: linear.channels), zeros = [Float](repeating: 0, count: linear.channels)
                var rewrite = NodeRewrite()
                switch node.op {
                case .mul: linear.fold(scale: factors, shift: zeros, graph: &graph, rewrite: &rewrite)
                case .div: linear.fold(scale: factors.map { 1 / $0 }, shift: zeros, graph: &graph, rewrite: &rewrite)
                case .add: linear.fold(scale: ones, shift: factors, graph: &graph, rewrite: &rewrite)
                default: linear.fold(scale: ones, shift: factors.map { -$0 }, graph: &graph, rewrite: &rewrite)
                }
                rewrite.replace(index, with: [])
                rewrite.apply(to: &graph)
                graph.replaceUses(of: node.result, with: x)
                return true
            }
        }
        return false
    }
}
