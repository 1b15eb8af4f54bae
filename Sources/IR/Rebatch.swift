extension Graph {
    /// The same graph for a batch of `size` inferences: the leading axis of every input and
    /// activation becomes `size`, and shape attributes follow. CNN graphs keep the batch
    /// leading throughout; a graph that moves or mixes it (a transpose of axis 0, a
    /// reshape that folds it away) cannot be rebatched and throws. `from` is the graph's
    /// batch (1 for the IR of one inference; an exported fixed batch otherwise).
    public func rebatched(_ size: Int, from batch: Int = 1) throws -> Graph {
        guard size >= 1 else { throw IRError("batch size \(size) is invalid") }
        var result = Graph(name: name)
        var map: [ValueID: ValueID] = [:]
        for input in inputs {
            var type = type(of: input)
            guard type.rank >= 1, type.shape[0] == batch else {
                throw IRError("input %\(self.name(of: input)) has no leading batch of \(batch) to rebatch")
            }
            type.shape[0] = size
            map[input] = result.addInput(name: self.name(of: input), type: type)
        }
        for node in nodes {
            let operands = node.operands.map { map[$0]! }
            if case .constant(let tensor) = node.op {
                map[node.result] = result.addConstant(tensor, name: self.name(of: node.result))
                continue
            }
            let original = type(of: node.result)
            guard original.rank >= 1, original.shape[0] == batch else {
                throw IRError("\(node.op.mnemonic) '\(node.name)' gives \(original), whose leading axis is not the batch")
            }
            var op = node.op
            switch op {
            case .reshape(var shape) where shape[0] == batch:
                shape[0] = size
                op = .reshape(shape: shape)
            case .slice(let starts, let steps, var sizes):
                guard starts[0] == 0, steps[0] == 1, sizes[0] == batch else { throw IRError("slice '\(node.name)' cuts the batch axis") }
                sizes[0] = size
                op = .slice(starts: starts, steps: steps, sizes: sizes)
            case .resize(var resize):
                resize.sizes[0] = size
                op = .resize(resize)
            case .transpose(let perm) where perm[0] != 0:
                throw IRError("transpose '\(node.name)' moves the batch axis")
            case .concat(axis: 0), .softmax(axis: 0):
                throw IRError("\(node.op.mnemonic) '\(node.name)' works along the batch axis")
            case .argMax(let argMax) where argMax.axis == 0:
                throw IRError("argmax '\(node.name)' works along the batch axis")
            case .pad(let pads, _) where pads[0] != 0 || pads[pads.count / 2] != 0:
                throw IRError("pad '\(node.name)' pads the batch axis")
            default:
                break
            }
            // Operands that are constants broadcast as before; batch-1 activations grew.
            let id = try result.append(op, operands, name: self.name(of: node.result), node: node.name)
            guard Array(result.type(of: id).shape.dropFirst()) == Array(original.shape.dropFirst()) else {
                throw IRError("\(node.op.mnemonic) '\(node.name)' changes shape when rebatched")
            }
            map[node.result] = id
        }
        result.outputs = outputs.map { map[$0]! }
        return result
    }
}
