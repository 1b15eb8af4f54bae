import IR

extension FloatEngine {
    /// `rerun` for a change of one channel of `value` ([N, C, ...]): `planes` are that
    /// channel's new values, sample after sample. A convolution (one group) that reads
    /// `value` directly adds the convolution of the change alone, through that one input
    /// channel's weights, to its cached result (1/C of its work); everything else runs as
    /// in `rerun`. Equal to `rerun` up to float rounding.
    public func rerunChannel(_ cached: [Tensor?], replacing value: ValueID, channel: Int, with planes: [Float]) throws -> [Tensor] {
        let old = cached[value.index]!
        let (n, c) = (old.shape[0], old.shape[1])
        let plane = old.elementCount / max(n * c, 1)
        guard planes.count == n * plane, channel >= 0, channel < c else { throw EngineError("channel planes do not fit \(old.type)") }
        let oldValues = old.floats
        var delta = [Float](repeating: 0, count: n * plane)
        var full = oldValues
        for sample in 0..<n {
            for index in 0..<plane {
                let position = (sample * c + channel) * plane + index
                delta[sample * plane + index] = planes[sample * plane + index] - oldValues[position]
                full[position] = planes[sample * plane + index]
            }
        }
        var changed: [ValueID: Tensor] = [value: Tensor(shape: old.shape, floats: full)]
        for (index, node) in graph.nodes.enumerated() where node.operands.contains(where: { changed[$0] != nil }) {
            if case .conv(let conv) = node.op, conv.group == 1, node.operands[0] == value, fusedClamp[index] == nil, old.shape.count == 4,
                !node.operands.dropFirst().contains(where: { changed[$0] != nil })
            {
                let weight = cached[node.operands[1].index]!
                let (m, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
                let weights = weight.floats
                var slice = [Float](repeating: 0, count: m * kh * kw)
                for row in 0..<m {
                    for k in 0..<(kh * kw) { slice[row * kh * kw + k] = weights[(row * c + channel) * kh * kw + k] }
                }
                let type = graph.type(of: node.result)
                let change = Kernels.conv(
                    Tensor(shape: [n, 1] + old.shape.dropFirst(2), floats: delta), weight: Tensor(shape: [m, 1, kh, kw], floats: slice), bias: nil, conv,
                    type)
                var result = cached[node.result.index]!.floats
                change.floats.withUnsafeBufferPointer { source in
                    for position in result.indices { result[position] += source[position] }
                }
                changed[node.result] = Tensor(shape: type.shape, floats: result)
                continue
            }
            changed[node.result] = try execute(index, node.operands.map { changed[$0] ?? cached[$0.index]! })
        }
        return graph.outputs.map { changed[$0] ?? cached[$0.index]! }
    }
}
