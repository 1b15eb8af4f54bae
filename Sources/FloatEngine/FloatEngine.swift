import COpenBLAS
import Dispatch
import IR

#if canImport(Glibc)
import Glibc
#endif

/// Executes a verified IR graph in plaintext float32: the oracle every later stage is
/// checked against (passes, planner, fixed point, three-party runs). Weights are read
/// from the graph's constants once; each run allocates activations and frees each one
/// after its last use.
public struct FloatEngine: Sendable {
    public let graph: Graph
    /// For each node, the values whose last use it is (freed after it runs).
    private let releases: [[ValueID]]
    /// Convolutions and dense layers whose only use is a ReLU-like clamp apply it as they
    /// write their output (one pass over memory fewer); the clamp node then passes through.
    let fusedClamp: [Int: (low: Float, high: Float)]
    private let passThrough: Set<Int>
    /// Convolution weights packed for the SGEMM kernels, by node index.
    private let packedWeights: [Int: Kernels.PackedWeights]
    private let fuseActivations: Bool

    /// `fuseActivations: false` keeps every ReLU-like node separate, so that the values of
    /// `runKeepingValues` hold the pre-activation inputs (the planner needs them).
    public init(graph: Graph, fuseActivations: Bool = true) throws {
        try self.init(graph: graph, fuseActivations: fuseActivations, packedWeights: nil)
    }

    /// `packedWeights` from an engine on the same graph at another batch size (rebatching
    /// keeps node order and weights) saves packing them again.
    private init(graph: Graph, fuseActivations: Bool, packedWeights reused: [Int: Kernels.PackedWeights]?) throws {
        try Verifier.verify(graph)
        self.graph = graph
        var lastUse: [ValueID: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for operand in node.operands { lastUse[operand] = index }
        }
        let outputs = Set(graph.outputs)
        let constants = graph.constants()
        // Weights stay for the next run; activations go after their last use.
        var releases = [[ValueID]](repeating: [], count: graph.nodes.count)
        for (value, index) in lastUse where !outputs.contains(value) && constants[value] == nil {
            releases[index].append(value)
        }
        self.releases = releases

        let uses = graph.useCounts()
        let definitions = graph.definingNodes()
        var fusedClamp: [Int: (low: Float, high: Float)] = [:]
        var passThrough: Set<Int> = []
        for (index, node) in graph.nodes.enumerated() where fuseActivations {
            guard let bounds = node.op.clampBounds, let producer = definitions[node.operands[0]],
                uses[node.operands[0].index] == 1, !outputs.contains(node.operands[0])
            else { continue }
            // The kernels that apply a clamp as they write their result.
            switch graph.nodes[producer].op.kind {
            case .conv, .dense:
                fusedClamp[producer] = bounds
                passThrough.insert(index)
            case .constant, .batchNorm, .relu, .relu6, .clip, .blockReLU, .maxPool, .avgPool, .globalAvgPool, .add, .sub, .mul, .div,
                .reshape, .transpose, .slice, .concat, .pad, .resize, .identity, .softmax, .argMax:
                continue
            }
        }
        self.fusedClamp = fusedClamp
        self.passThrough = passThrough

        var packedWeights: [Int: Kernels.PackedWeights] = [:]
        for (index, node) in graph.nodes.enumerated() where reused == nil {
            guard case .conv(let conv) = node.op, let weight = constants[node.operands[1]], weight.shape[1] > 1 || conv.group == 1 else { continue }
            packedWeights[index] = Kernels.PackedWeights(weight, groups: conv.group)
        }
        self.packedWeights = reused ?? packedWeights
        self.fuseActivations = fuseActivations
        _ = singleThreadedBLAS
    }

    /// Runs one inference. `inputs` match the graph inputs' types; returns one tensor per
    /// graph output. `observer` sees each node's time, `inspect` each node's result
    /// before it may be freed.
    public func run(_ inputs: [Tensor], observer: ((Node, Duration) -> Void)? = nil, inspect: ((Node, Tensor) -> Void)? = nil) throws -> [Tensor] {
        guard inputs.count == graph.inputs.count else {
            throw EngineError("the graph takes \(graph.inputs.count) inputs, got \(inputs.count)")
        }
        var values = [Tensor?](repeating: nil, count: graph.values.count)
        for (input, tensor) in zip(graph.inputs, inputs) {
            let expected = graph.type(of: input)
            guard tensor.type == expected else {
                throw EngineError("input %\(graph.name(of: input)) must be \(expected), got \(tensor.type)")
            }
            values[input.index] = tensor
        }
        for (index, node) in graph.nodes.enumerated() {
            let start = ContinuousClock.now
            values[node.result.index] = try execute(index, node.operands.map { values[$0.index]! })
            observer?(node, ContinuousClock.now - start)
            inspect?(node, values[node.result.index]!)
            for value in releases[index] { values[value.index] = nil }
        }
        return graph.outputs.map { values[$0.index]! }
    }

    /// Runs one inference and keeps every value (indexed by ValueID), so that suffixes of
    /// the graph can be re-run with one value changed (`rerun`).
    public func runKeepingValues(_ inputs: [Tensor]) throws -> [Tensor?] {
        var values = [Tensor?](repeating: nil, count: graph.values.count)
        for (input, tensor) in zip(graph.inputs, inputs) {
            guard tensor.type == graph.type(of: input) else {
                throw EngineError("input %\(graph.name(of: input)) must be \(graph.type(of: input)), got \(tensor.type)")
            }
            values[input.index] = tensor
        }
        for (index, node) in graph.nodes.enumerated() {
            values[node.result.index] = try execute(index, node.operands.map { values[$0.index]! })
        }
        return values
    }

    /// The graph outputs when `value` is replaced by `tensor` and everything that depends
    /// on it is recomputed; the rest comes from `cached` (a `runKeepingValues` result).
    public func rerun(_ cached: [Tensor?], replacing value: ValueID, with tensor: Tensor) throws -> [Tensor] {
        guard tensor.type == graph.type(of: value) else { throw EngineError("replacement has type \(tensor.type), expected \(graph.type(of: value))") }
        var changed: [ValueID: Tensor] = [value: tensor]
        for (index, node) in graph.nodes.enumerated() where node.operands.contains(where: { changed[$0] != nil }) {
            changed[node.result] = try execute(index, node.operands.map { changed[$0] ?? cached[$0.index]! })
        }
        return graph.outputs.map { changed[$0] ?? cached[$0.index]! }
    }

    /// Node `index` applied to its operands, with the engine's fusions and packed weights.
    func execute(_ index: Int, _ operands: [Tensor]) throws -> Tensor {
        let node = graph.nodes[index]
        let type = graph.type(of: node.result)
        switch node.op {
        case _ where passThrough.contains(index):
            return operands[0]
        case .conv(let conv):
            return Kernels.conv(
                operands[0], weight: operands[1], bias: operands.count > 2 ? operands[2] : nil, conv, type, clamp: fusedClamp[index],
                packed: packedWeights[index])
        case .dense:
            return Kernels.dense(operands[0], weight: operands[1], bias: operands.count > 2 ? operands[2] : nil, type, clamp: fusedClamp[index])
        default:
            return try FloatEngine.evaluate(node.op, operands, resultType: type)
        }
    }

    /// Runs a batch: `input` holds N inferences along its first axis, each shaped like the
    /// graph's single input. Returns the outputs stacked the same way.
    public func runBatch(_ input: Tensor) throws -> [Tensor] {
        guard graph.inputs.count == 1 else { throw EngineError("batched runs need a graph with one input") }
        let sample = graph.type(of: graph.inputs[0])
        let perSample = sample.elementCount
        guard case .f32(let data) = input.storage, !input.shape.isEmpty, perSample > 0,
            input.shape.count == sample.rank, Array(input.shape.dropFirst()) == Array(sample.shape.dropFirst()),
            input.elementCount % perSample == 0
        else {
            throw EngineError("input \(input.type) does not hold inferences of shape \(sample)")
        }
        let count = input.elementCount / perSample
        // Run several inferences at once on the graph rebatched for them (larger GEMMs for
        // small maps), as many as keep the largest activation near 1M floats: beyond the
        // caches, one at a time is faster. A graph that cannot be rebatched runs them one
        // by one.
        let largest = graph.values.map(\.type.elementCount).max() ?? 1
        let chunk = sample.shape[0] == 1 && count > 1 ? max(1, min(count, 32, (1 << 20) / max(largest, 1))) : 1
        var engines: [Int: FloatEngine] = [1: self]
        var stacked: [[Tensor]] = []
        var start = 0
        while start < count {
            var size = min(chunk, count - start)
            if engines[size] == nil {
                if let batched = try? graph.rebatched(size) {
                    engines[size] = try FloatEngine(graph: batched, fuseActivations: fuseActivations, packedWeights: packedWeights)
                } else {
                    size = 1
                }
            }
            let slice = Array(data[(start * perSample)..<((start + size) * perSample)])
            stacked.append(try engines[size]!.run([Tensor(shape: [size * sample.shape[0]] + sample.shape.dropFirst(), floats: slice)]))
            start += size
        }
        return try (0..<graph.outputs.count).map { output in
            let parts = stacked.map { $0[output] }
            let shape = parts[0].shape
            guard !shape.isEmpty else { throw EngineError("a scalar output cannot be stacked") }
            let outShape = [parts.reduce(0) { $0 + $1.shape[0] }] + shape.dropFirst()
            switch parts[0].storage {
            case .f32: return Tensor(shape: outShape, floats: parts.flatMap(\.floats))
            case .i64: return Tensor(shape: outShape, ints: parts.flatMap(\.ints))
            }
        }
    }

    /// Applies one op to operand tensors (the graph must have checked their types).
    public static func evaluate(_ op: Op, _ operands: [Tensor], resultType: TensorType) throws -> Tensor {
        let x = operands.first
        switch op {
        case .constant(let tensor): return tensor
        case .conv(let conv): return Kernels.conv(x!, weight: operands[1], bias: operands.count > 2 ? operands[2] : nil, conv, resultType)
        case .dense: return Kernels.dense(x!, weight: operands[1], bias: operands.count > 2 ? operands[2] : nil, resultType)
        case .batchNorm(let epsilon): return Kernels.batchNorm(x!, operands, epsilon: epsilon)
        case .relu, .relu6, .clip: return Kernels.clamp(x!, op.clampBounds!)
        case .blockReLU(let plan): return Kernels.blockReLU(x!, plan)
        case .maxPool(let pool): return Kernels.pool(x!, pool, max: true, resultType)
        case .avgPool(let pool): return Kernels.pool(x!, pool, max: false, resultType)
        case .globalAvgPool: return Kernels.globalAvgPool(x!, resultType)
        case .add: return Kernels.broadcast(x!, operands[1], resultType, +)
        case .sub: return Kernels.broadcast(x!, operands[1], resultType, -)
        case .mul: return Kernels.broadcast(x!, operands[1], resultType, *)
        case .div: return Kernels.broadcast(x!, operands[1], resultType, /)
        case .reshape(let shape): return x!.reshaped(shape)
        case .transpose(let perm): return Kernels.transpose(x!, perm: perm, resultType)
        case .slice(let starts, let steps, _): return Kernels.slice(x!, starts: starts, steps: steps, resultType)
        case .concat(let axis): return Kernels.concat(operands, axis: axis, resultType)
        case .pad(let pads, let value): return Kernels.pad(x!, pads: pads, value: value, resultType)
        case .resize(let resize): return Kernels.resize(x!, resize, resultType)
        case .identity: return x!
        case .softmax(let axis): return Kernels.softmax(x!, axis: axis)
        case .argMax(let argMax): return Kernels.argMax(x!, argMax, resultType)
        }
    }
}

extension Op {
    /// The bounds of ReLU-like clamps (relu, relu6, clip).
    var clampBounds: (low: Float, high: Float)? {
        switch self {
        case .relu: return (0, .infinity)
        case .relu6: return (0, 6)
        case .clip(let low, let high): return (low, high)
        case .constant, .conv, .dense, .batchNorm, .blockReLU, .maxPool, .avgPool, .globalAvgPool, .add, .sub, .mul, .div, .reshape,
            .transpose, .slice, .concat, .pad, .resize, .identity, .softmax, .argMax:
            return nil
        }
    }
}

public struct EngineError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Cores available to the kernels.
let coreCount = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

/// OpenBLAS (dense layers only) runs single-threaded: its idle threads spin and yield
/// against the engine's own parallel kernels.
let singleThreadedBLAS: Void = openblas_set_num_threads(1)

/// Runs `body(0..<count)` spread over the machine's cores. Callers make every index
/// write a disjoint part of the output.
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count < 2 || coreCount < 2 {
        for index in 0..<count { body(index) }
        return
    }
    WorkerPool.shared.run(count, body)
}

extension FloatEngine {
    /// The largest magnitude each computed value (and the input) reaches, by name, over
    /// `rows` inputs run one at a time (values are freed as the engine goes): the
    /// calibrated ranges fixed-point choices are made from.
    public func largestMagnitudes(_ rows: [Tensor]) throws -> [String: Float] {
        let inputName = graph.name(of: graph.inputs[0])
        var largest: [String: Float] = [:]
        for input in rows {
            largest[inputName] = input.floats.reduce(largest[inputName] ?? 0) { max($0, abs($1)) }
            _ = try run([input], inspect: { node, value in
                if case .constant = node.op { return }
                guard value.dtype == .f32 else { return }
                let name = self.graph.name(of: node.result)
                largest[name] = value.floats.reduce(largest[name] ?? 0) { max($0, abs($1)) }
            })
        }
        return largest
    }
}
