/// Index of an SSA value in its graph's value table.
public struct ValueID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let index: Int
    public init(_ index: Int) { self.index = index }
    public static func < (a: ValueID, b: ValueID) -> Bool { a.index < b.index }
    public var description: String { "v\(index)" }
}

/// An SSA value: its unique name (the ONNX tensor name where there is one) and type.
public struct Value: Sendable, Equatable {
    public var name: String
    public var type: TensorType
}

/// One operation; `name` is the source layer's name (the ONNX node name) for diagnostics
/// and reports.
public struct Node: Sendable, Equatable {
    public var op: Op
    public var operands: [ValueID]
    public var result: ValueID
    public var name: String

    public init(op: Op, operands: [ValueID], result: ValueID, name: String) {
        self.op = op
        self.operands = operands
        self.result = result
        self.name = name
    }
}

/// A function from input tensors to output tensors in SSA form. Nodes are kept in a
/// topological order; every value is defined once, by a graph input or by one node.
public struct Graph: Sendable, Equatable {
    public var name: String
    public private(set) var values: [Value] = []
    public var inputs: [ValueID] = []
    public var outputs: [ValueID] = []
    public var nodes: [Node] = []
    private var names: Set<String> = []

    public init(name: String) {
        self.name = name
    }

    public subscript(value: ValueID) -> Value { values[value.index] }
    public func type(of value: ValueID) -> TensorType { values[value.index].type }
    public func name(of value: ValueID) -> String { values[value.index].name }

    /// Adds a value; a name already in use gets the next free `#N` suffix (a new version
    /// of `w#1` is `w#2`, not `w#1#1`) so names stay unique.
    public mutating func addValue(name: String, type: TensorType) -> ValueID {
        var unique = name.isEmpty ? "v\(values.count)" : name
        if names.contains(unique) {
            var base = Substring(unique)
            if let hash = unique.lastIndex(of: "#"), !unique[unique.index(after: hash)...].isEmpty,
                unique[unique.index(after: hash)...].allSatisfy(\.isNumber)
            {
                base = unique[..<hash]
            }
            var suffix = 1
            while names.contains("\(base)#\(suffix)") { suffix += 1 }
            unique = "\(base)#\(suffix)"
        }
        names.insert(unique)
        values.append(Value(name: unique, type: type))
        return ValueID(values.count - 1)
    }

    /// Changes a value's type in place (passes that rewrite shapes use it).
    public mutating func setType(_ type: TensorType, of value: ValueID) {
        values[value.index].type = type
    }

    /// Declares a graph input.
    @discardableResult
    public mutating func addInput(name: String, type: TensorType) -> ValueID {
        let id = addValue(name: name, type: type)
        inputs.append(id)
        return id
    }

    /// Appends a node after inferring its result type from its operands; throws when
    /// the operands do not fit the op (a shape or type mismatch).
    @discardableResult
    public mutating func append(_ op: Op, _ operands: [ValueID], name resultName: String, node nodeName: String = "")
        throws -> ValueID
    {
        for operand in operands where operand.index < 0 || operand.index >= values.count {
            throw IRError("operand \(operand) of \(op.mnemonic) does not exist")
        }
        let type = try op.resultType(operands: operands.map { self.type(of: $0) })
        guard let count = type.shape.checkedProduct, count <= maxElementCount else {
            throw IRError("\(op.mnemonic) result \(type) is larger than mpcc supports (\(maxElementCount) elements)")
        }
        let result = addValue(name: resultName, type: type)
        nodes.append(Node(op: op, operands: operands, result: result, name: nodeName))
        return result
    }

    /// Appends a `constant` node holding `tensor`.
    @discardableResult
    public mutating func addConstant(_ tensor: Tensor, name: String) -> ValueID {
        let result = addValue(name: name, type: tensor.type)
        nodes.append(Node(op: .constant(tensor), operands: [], result: result, name: ""))
        return result
    }

    /// Makes every operand and graph output that reads `old` read `new` instead.
    public mutating func replaceUses(of old: ValueID, with new: ValueID) {
        for index in nodes.indices {
            nodes[index].operands = nodes[index].operands.map { $0 == old ? new : $0 }
        }
        outputs = outputs.map { $0 == old ? new : $0 }
    }

    /// The data of every `constant` node, by value.
    public func constants() -> [ValueID: Tensor] {
        var map: [ValueID: Tensor] = [:]
        for node in nodes {
            if case .constant(let tensor) = node.op { map[node.result] = tensor }
        }
        return map
    }

    /// Node index that defines each value (absent for graph inputs).
    public func definingNodes() -> [ValueID: Int] {
        var map: [ValueID: Int] = [:]
        for (index, node) in nodes.enumerated() { map[node.result] = index }
        return map
    }

    /// How many operands (and graph outputs) use each value.
    public func useCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: values.count)
        for node in nodes {
            for operand in node.operands { counts[operand.index] += 1 }
        }
        for output in outputs { counts[output.index] += 1 }
        return counts
    }
}

extension Graph {
    /// Removes nodes whose results no graph output depends on, then renumbers the values
    /// so that the value table holds only graph inputs and live results. The graph must
    /// verify first.
    public mutating func eliminateDeadCode() {
        var live = Set(outputs)
        var kept: [Node] = []
        for node in nodes.reversed() where live.contains(node.result) {
            kept.append(node)
            live.formUnion(node.operands)
        }
        kept.reverse()
        var compact = Graph(name: name)
        var remap: [ValueID: ValueID] = [:]
        for input in inputs { remap[input] = compact.addInput(name: self.name(of: input), type: type(of: input)) }
        for node in kept {
            let result = compact.addValue(name: self.name(of: node.result), type: type(of: node.result))
            remap[node.result] = result
            compact.nodes.append(Node(op: node.op, operands: node.operands.map { remap[$0]! }, result: result, name: node.name))
        }
        compact.outputs = outputs.map { remap[$0]! }
        self = compact
    }
}

extension Graph {
    /// The graph whose outputs are the scores an output argmax reads: a model that
    /// declares labels is measured on the scores, since labels change in steps that say
    /// nothing of how far a change went. Other outputs stay; nodes only the labels
    /// needed are removed.
    public func scoresBeforeArgMax() -> Graph {
        let definitions = definingNodes()
        var scores = self
        scores.outputs = outputs.map { output in
            guard let index = definitions[output], case .argMax = nodes[index].op else { return output }
            return nodes[index].operands[0]
        }
        guard scores.outputs != outputs else { return self }
        scores.eliminateDeadCode()
        return scores
    }
}

/// The largest tensor a value may hold; a bound that keeps hostile shapes from
/// exhausting memory or overflowing index arithmetic.
public let maxElementCount = 1 << 30

/// A malformed or inconsistent IR: a shape that does not check, a dangling value, an op
/// not allowed at this stage.
public struct IRError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
