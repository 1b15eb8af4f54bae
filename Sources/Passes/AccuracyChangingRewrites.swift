import IR

/// relu6-to-relu (changes the function): replaces ReLU6 by ReLU, saving one comparison
/// per element; the paper fine-tunes the network afterwards.
public struct ReLU6ToReLU: Pass {
    public static let name = "relu6-to-relu"
    public static let summary = "replace ReLU6 by ReLU (changes accuracy; --keep-relu6 disables)"
    public static let changesFunction = true
    public init() {}

    public func run(on graph: inout Graph) throws -> Bool {
        var changed = false
        for index in graph.nodes.indices where graph.nodes[index].op == .relu6 {
            graph.nodes[index].op = .relu
            changed = true
        }
        return changed
    }
}

/// maxpool-to-avgpool (changes the function): replaces max pooling by average pooling
/// with the same kernel, strides, padding and ceil mode, counting padded positions in
/// the divisor as PyTorch's AvgPool2d does by default. Average pooling is linear, so it
/// costs no comparisons.
public struct MaxPoolToAvgPool: Pass {
    public static let name = "maxpool-to-avgpool"
    public static let summary = "replace MaxPool by AvgPool (changes accuracy; --keep-maxpool disables)"
    public static let changesFunction = true
    public init() {}

    public func run(on graph: inout Graph) throws -> Bool {
        var changed = false
        for index in graph.nodes.indices {
            guard case .maxPool(var pool) = graph.nodes[index].op else { continue }
            pool.countIncludePad = true
            graph.nodes[index].op = .avgPool(pool)
            changed = true
        }
        return changed
    }
}
