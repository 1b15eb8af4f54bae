import IR

/// Settings of an import.
public struct ImportOptions: Sendable {
    /// The size given to a symbolic leading (batch) dimension of the graph inputs: the
    /// IR describes one inference; a batch of N inputs is N inferences.
    public var batchSize: Int = 1
    /// Sigmoid becomes `SigmoidApproximation` (mpcc --approx-sigmoid); else it is
    /// unsupported.
    public var approximateSigmoid = false

    public init(batchSize: Int = 1, approximateSigmoid: Bool = false) {
        self.batchSize = batchSize
        self.approximateSigmoid = approximateSigmoid
    }
}

/// The result of importing an ONNX model.
public struct ImportedModel: Sendable {
    public var graph: Graph
    /// The ai.onnx opset the model was written for.
    public var opset: Int
    public var irVersion: Int64
    public var producer: String
    /// The outputs of the Sigmoid nodes imported as `SigmoidApproximation`
    /// (ImportOptions.approximateSigmoid), by ONNX name.
    public var approximatedSigmoids: [String] = []
    /// The fixed batch (> 1) the model was exported with, now one inference; nil when
    /// the model's batch was 1 or symbolic.
    public var exportedBatch: Int?
}

/// The oldest and newest ai.onnx opsets whose semantics the importer knows.
public let supportedOpsets = 1...23

/// Reads an ONNX file into a verified IR graph with static shapes. Shape arithmetic the
/// exporters emit (Shape, Gather, Concat ... chains) is evaluated on the way, so every
/// IR value has a known shape; unsupported operators are collected over the whole model
/// and reported together.
public func importONNX(path: String, options: ImportOptions = ImportOptions()) throws -> ImportedModel {
    let model = try ONNXModel(path: path)
    guard let opset = model.opsets[""] else {
        throw ImportError("\(path) does not declare an ai.onnx opset")
    }
    guard supportedOpsets.contains(opset) else {
        throw ImportError("\(path) uses ai.onnx opset \(opset); mpcc reads opsets \(supportedOpsets.lowerBound) to \(supportedOpsets.upperBound)")
    }
    let graphImport = GraphImport(model: model, opset: opset, options: options, path: path)
    var graph = try graphImport.run()
    let exportedBatch = fixedBatch(of: graph)
    if let batch = exportedBatch {
        do {
            graph = try graph.rebatched(options.batchSize, from: batch)
        } catch let error as IRError {
            throw ImportError(
                "\(path) was exported with a fixed batch of \(batch) that cannot become one inference (\(error.message)); export it with batch 1 or a dynamic batch axis")
        }
    }
    var imported = ImportedModel(graph: graph, opset: opset, irVersion: model.irVersion, producer: model.producer)
    imported.approximatedSigmoids = graphImport.approximatedSigmoids
    imported.exportedBatch = exportedBatch
    return imported
}

/// A model exported with a batch of B > 1 (`torch.onnx.export(model, torch.randn(8, ...))`):
/// every input (of rank 2 or more: a sample has axes of its own) and every output (of
/// rank 1 or more: an ArgMax without keepdims leaves [B]) leads with the same B. The IR
/// describes one inference, so the graph is then rebatched to 1.
func fixedBatch(of graph: Graph) -> Int? {
    let inputs = graph.inputs.map { graph.type(of: $0).shape }, outputs = graph.outputs.map { graph.type(of: $0).shape }
    guard let batch = inputs.first?.first, batch > 1,
          inputs.allSatisfy({ $0.count >= 2 && $0[0] == batch }),
          outputs.allSatisfy({ $0.count >= 1 && $0[0] == batch }) else { return nil }
    return batch
}

/// What an ONNX name refers to during import.
enum Symbol {
    /// A tensor computed at run time.
    case value(ValueID)
    /// A tensor known now (initializer, Constant node, folded shape arithmetic).
    case constant(Tensor)
    /// Produced by a node that could not be imported; nodes that use it are skipped.
    case unavailable
}

/// A node that mpcc cannot import in this form; collected, not thrown to the user.
struct Unsupported: Error {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// The state of one import: the IR being built and what each ONNX name refers to.
final class GraphImport {
    let model: ONNXModel
    let opset: Int
    let options: ImportOptions
    let path: String
    var graph: Graph
    var symbols: [String: Symbol] = [:]
    /// Constant nodes already added for an ONNX name.
    var materialized: [String: ValueID] = [:]
    /// Every name some node or graph output reads.
    let consumed: Set<String>
    var unsupported: [UnsupportedNode] = []
    var approximatedSigmoids: [String] = []

    init(model: ONNXModel, opset: Int, options: ImportOptions, path: String) {
        self.model = model
        self.opset = opset
        self.options = options
        self.path = path
        self.graph = Graph(name: model.graphName.isEmpty ? "model" : model.graphName)
        var consumed = Set(model.outputs.map(\.name))
        for node in model.nodes { consumed.formUnion(node.inputs) }
        self.consumed = consumed
    }

    func run() throws -> Graph {
        for (name, tensor) in model.initializers { symbols[name] = .constant(tensor) }
        try declareInputs()
        for node in model.nodes { try importNode(node) }
        if !unsupported.isEmpty {
            throw ImportError(unsupportedMessage(unsupported, file: path), unsupported: unsupported)
        }
        try declareOutputs()
        do {
            try Verifier.verify(graph)
            graph.eliminateDeadCode()
            try Verifier.verify(graph)
        } catch let error as IRError {
            throw ImportError("\(path) imported into an invalid graph: \(error.message)")
        }
        return graph
    }

    private func declareInputs() throws {
        for input in model.inputs where symbols[input.name] == nil {
            guard input.elementType == 1 else {
                throw ImportError("input '\(input.name)' has ONNX element type \(input.elementType); mpcc models take float32 inputs")
            }
            guard let dims = input.shape else {
                throw ImportError("input '\(input.name)' declares no shape; mpcc needs static input shapes")
            }
            var shape: [Int] = []
            for (axis, dim) in dims.enumerated() {
                switch dim {
                case .value(let size) where size > 0 && size < 1 << 31:
                    shape.append(size)
                case .parameter where axis == 0, .unknown where axis == 0, .value(0) where axis == 0:
                    shape.append(options.batchSize)
                default:
                    throw ImportError("input '\(input.name)' has a dynamic or invalid dimension at axis \(axis); mpcc needs static input sizes")
                }
            }
            symbols[input.name] = .value(graph.addInput(name: input.name, type: TensorType(.f32, shape)))
        }
        guard !graph.inputs.isEmpty else { throw ImportError("\(path) has no graph input that is not a constant") }
    }

    private func declareOutputs() throws {
        guard !model.outputs.isEmpty else { throw ImportError("\(path) declares no graph outputs") }
        for output in model.outputs {
            guard let symbol = symbols[output.name] else {
                throw ImportError("graph output '\(output.name)' is not produced by any node")
            }
            let value = try materialize(symbol, name: output.name, as: nil)
            graph.outputs.append(value)
        }
        // Declared shapes must agree with inference where they are static.
        for info in model.outputs + model.valueInfo {
            guard let dims = info.shape, let symbol = symbols[info.name] else { continue }
            let shape: [Int]
            switch symbol {
            case .value(let id): shape = graph.type(of: id).shape
            case .constant(let tensor): shape = tensor.shape
            case .unavailable: continue
            }
            let mismatch = dims.count != shape.count || zip(dims, shape).contains { declared, actual in
                if case .value(let size) = declared { return size != actual }
                return false
            }
            if mismatch {
                let declared = dims.map { dim -> String in
                    if case .value(let size) = dim { return "\(size)" }
                    if case .parameter(let name) = dim { return name }
                    return "?"
                }
                throw ImportError("'\(info.name)' is declared with shape [\(declared.joined(separator: ","))] but the graph computes \(shape)")
            }
        }
    }

    private func importNode(_ node: ONNXNode) throws {
        let standard = node.domain.isEmpty || node.domain == "ai.onnx"
        guard standard, let handler = opImporters[node.opType] else {
            let opType = standard ? node.opType : "\(node.domain).\(node.opType)"
            unsupported.append(UnsupportedNode(opType: opType, nodeName: node.displayName, reason: nil))
            markUnavailable(node)
            return
        }
        var unavailable: [String] = []
        for input in node.inputs where !input.isEmpty {
            guard let symbol = symbols[input] else {
                throw ImportError("node '\(node.displayName)' (\(node.opType)) reads '\(input)', which no earlier node or initializer defines")
            }
            if case .unavailable = symbol { unavailable.append(input) }
        }
        if !unavailable.isEmpty {
            // Blockers that do not depend on the skipped inputs' shapes are reported too.
            if node.opType == "Div", node.inputs.count > 1, unavailable.contains(node.inputs[1]) {
                unsupported.append(UnsupportedNode(opType: node.opType, nodeName: node.displayName, reason: "the divisor is computed"))
            } else if node.opType == "Sigmoid", !options.approximateSigmoid {
                unsupported.append(UnsupportedNode(opType: node.opType, nodeName: node.displayName, reason: sigmoidReason))
            }
            markUnavailable(node)
            return
        }
        for output in node.outputs where !output.isEmpty && symbols[output] != nil {
            throw ImportError("'\(output)' is defined twice (again by node '\(node.displayName)')")
        }
        do {
            let context = NodeContext(node: node, importer: self)
            switch try handler(context) {
            case .value(let id): symbols[node.outputs.first ?? ""] = .value(id)
            case .constant(let tensor): symbols[node.outputs.first ?? ""] = .constant(tensor)
            case .values(let ids):
                for (output, id) in zip(node.outputs, ids) where !output.isEmpty { symbols[output] = .value(id) }
            }
        } catch let error as Unsupported {
            unsupported.append(UnsupportedNode(opType: node.opType, nodeName: node.displayName, reason: error.reason))
            markUnavailable(node)
        } catch let error as IRError {
            throw ImportError("node '\(node.displayName)' (\(node.opType)): \(error.message)")
        } catch let error as ImportError {
            throw ImportError("node '\(node.displayName)' (\(node.opType)): \(error.message)", unsupported: error.unsupported)
        }
    }

    private func markUnavailable(_ node: ONNXNode) {
        for output in node.outputs where !output.isEmpty { symbols[output] = .unavailable }
    }

    /// The IR value for a symbol; constants get a `constant` node (once per name), as
    /// f32 unless `dtype` says otherwise.
    func materialize(_ symbol: Symbol, name: String, as dtype: DType? = .f32) throws -> ValueID {
        switch symbol {
        case .value(let id):
            return id
        case .unavailable:
            throw ImportError("'\(name)' is not available")
        case .constant(var tensor):
            if dtype == .f32, tensor.dtype != .f32 { tensor = Tensor(shape: tensor.shape, floats: tensor.floats) }
            let key = "\(name)\u{0}\(tensor.dtype)"
            if let existing = materialized[key] { return existing }
            let id = graph.addConstant(tensor, name: name)
            materialized[key] = id
            return id
        }
    }
}
