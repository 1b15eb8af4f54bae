import IR

/// What an op importer sees of one ONNX node: typed attribute access with the opset's
/// defaults, its inputs as values or constants, and a way to emit IR.
struct NodeContext {
    let node: ONNXNode
    let importer: GraphImport

    var opset: Int { importer.opset }
    var outputName: String { node.outputs.first ?? "" }

    // MARK: attributes

    private func attribute(_ name: String) -> ONNXAttribute? { node.attributes[name] }

    private func wrongType(_ name: String, _ expected: String) -> ImportError {
        ImportError("attribute '\(name)' should be \(expected)")
    }

    func int(_ name: String) throws -> Int? {
        guard let value = attribute(name) else { return nil }
        guard case .int(let int) = value else { throw wrongType(name, "an integer") }
        return Int(int)
    }

    func ints(_ name: String) throws -> [Int]? {
        guard let value = attribute(name) else { return nil }
        guard case .ints(let ints) = value else { throw wrongType(name, "a list of integers") }
        return ints.map { Int($0) }
    }

    func float(_ name: String) throws -> Float? {
        guard let value = attribute(name) else { return nil }
        switch value {
        case .float(let float): return float
        case .int(let int): return Float(int)
        default: throw wrongType(name, "a float")
        }
    }

    func floats(_ name: String) throws -> [Float]? {
        guard let value = attribute(name) else { return nil }
        guard case .floats(let floats) = value else { throw wrongType(name, "a list of floats") }
        return floats
    }

    func string(_ name: String) throws -> String? {
        guard let value = attribute(name) else { return nil }
        guard case .string(let string) = value else { throw wrongType(name, "a string") }
        return string
    }

    func tensorAttribute(_ name: String) throws -> Tensor? {
        guard let value = attribute(name) else { return nil }
        guard case .tensor(let tensor) = value else { throw wrongType(name, "a tensor") }
        return tensor
    }

    /// A 2-element spatial attribute (strides, dilations, kernel) with a default.
    func pair(_ name: String, default value: [Int]) throws -> [Int] {
        guard let values = try ints(name) else { return value }
        guard values.count == 2 else {
            throw Unsupported("\(name) \(values) is not 2-D (only 2-D spatial ops are supported)")
        }
        guard values.allSatisfy({ $0 >= 1 && $0 < 1 << 20 }) else { throw ImportError("\(name) \(values) is invalid") }
        return values
    }

    /// [top, left, bottom, right] padding from `pads` or `auto_pad` (SAME_UPPER puts the
    /// odd pixel at the end, SAME_LOWER at the start).
    func spatialPads(input: [Int], kernel: [Int], strides: [Int], dilations: [Int]) throws -> [Int] {
        switch try string("auto_pad") ?? "NOTSET" {
        case "NOTSET", "":
            guard let pads = try ints("pads") else { return [0, 0, 0, 0] }
            guard pads.count == 4 else { throw Unsupported("pads \(pads) are not 2-D") }
            guard pads.allSatisfy({ $0 >= 0 && $0 < 1 << 20 }) else { throw ImportError("pads \(pads) are invalid") }
            return pads
        case "VALID":
            return [0, 0, 0, 0]
        case let mode where mode == "SAME_UPPER" || mode == "SAME_LOWER":
            var begin: [Int] = []
            var end: [Int] = []
            for axis in 0..<2 {
                let output = (input[axis] + strides[axis] - 1) / strides[axis]
                let total = max(0, (output - 1) * strides[axis] + (kernel[axis] - 1) * dilations[axis] + 1 - input[axis])
                let small = total / 2
                begin.append(mode == "SAME_UPPER" ? small : total - small)
                end.append(mode == "SAME_UPPER" ? total - small : small)
            }
            return begin + end
        case let other:
            throw ImportError("auto_pad '\(other)' is not a valid value")
        }
    }

    // MARK: inputs

    /// The symbol of input `index`, or nil when the input is absent or named "".
    func input(_ index: Int) -> Symbol? {
        guard index < node.inputs.count, !node.inputs[index].isEmpty else { return nil }
        return importer.symbols[node.inputs[index]]
    }

    var inputCount: Int { node.inputs.count }

    /// The constant tensor of input `index`, or nil if it is absent or computed.
    func constant(_ index: Int) -> Tensor? {
        if case .constant(let tensor) = input(index) { return tensor }
        return nil
    }

    func isConstant(_ index: Int) -> Bool { constant(index) != nil }

    /// The constant data of an input that must be known at compile time.
    func requireConstant(_ index: Int, _ what: String) throws -> Tensor {
        guard let symbol = input(index) else { throw ImportError("the \(what) input is missing") }
        guard case .constant(let tensor) = symbol else {
            throw Unsupported("the \(what) is computed at run time; mpcc needs it constant")
        }
        return tensor
    }

    /// Like `requireConstant` for an optional input: nil when absent (or an empty tensor,
    /// which some exporters use for "absent").
    func optionalConstant(_ index: Int, _ what: String) throws -> Tensor? {
        guard input(index) != nil else { return nil }
        let tensor = try requireConstant(index, what)
        return tensor.elementCount == 0 && tensor.shape != [] ? nil : tensor
    }

    /// The IR value of input `index` (constants become `constant` nodes).
    func value(_ index: Int) throws -> ValueID {
        guard let symbol = input(index) else { throw ImportError("input \(index) is missing") }
        return try importer.materialize(symbol, name: node.inputs[index])
    }

    /// The static type of input `index`.
    func type(_ index: Int) throws -> TensorType {
        switch input(index) {
        case .value(let id): return importer.graph.type(of: id)
        case .constant(let tensor): return tensor.type
        default: throw ImportError("input \(index) is missing")
        }
    }

    /// Whether output `index` exists and something reads it.
    func outputUsed(_ index: Int) -> Bool {
        index < node.outputs.count && !node.outputs[index].isEmpty && importer.consumed.contains(node.outputs[index])
    }

    // MARK: emitting

    /// Adds `op` to the graph; the result takes the node's output name unless `name` is
    /// given (intermediate values of multi-op expansions).
    @discardableResult
    func emit(_ op: Op, _ operands: [ValueID], name: String? = nil) throws -> ValueID {
        try importer.graph.append(op, operands, name: name ?? outputName, node: node.name)
    }

    /// Adds a constant computed here (a transformed weight) under a derived name.
    func addConstant(_ tensor: Tensor, name: String) -> ValueID {
        importer.graph.addConstant(tensor, name: name)
    }

    /// The ONNX name of input `index`.
    func inputName(_ index: Int) -> String { index < node.inputs.count ? node.inputs[index] : "" }

    /// An axis attribute value normalized against `rank` (negative counts from the end).
    func normalizedAxis(_ axis: Int, rank: Int) throws -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        guard normalized >= 0, normalized < rank else { throw ImportError("axis \(axis) is out of range for rank \(rank)") }
        return normalized
    }
}

/// What an op importer produces for the node's outputs (the first, unless `values`).
enum ImportOutcome {
    case value(ValueID)
    case constant(Tensor)
    /// One value per output, in order (Split).
    case values([ValueID])
}
