import FloatEngine
import IR
import SharedKernels

/// The `fast` estimator (README, "Planning block ReLUs"):
///
/// 1. On every calibration sample, a cheap proxy of every (channel, candidate): the
///    first-order output change ||J delta||^2 / outputs, delta being the candidate's change
///    of the channel, from backward passes of the output (one per output element when there
///    are at most 16, else `fastProjections` random Gaussian projections). A layer whose
///    output feeds only pooling (max pooling after a ReLU is where first order fails) is
///    followed exactly through it, one channel plane at a time, and linearized after it.
///    Where the graph has an op without a backward rule, the channel's own squared change
///    (local error) is the proxy instead.
/// 2. Per channel, the shortlist: candidates on the lower convex hull of (cost, mean proxy),
///    plus identity.
/// 3. Exact re-runs of the network suffix for the shortlists, on the first `fastSamples`
///    samples: every layer on the first half, and on the second half only the layers whose
///    estimates are still noisy (`fastTolerance`). All channels while the re-runs'
///    multiply-adds stay within `fastRerunMACs`; past that, an evenly spread sample of each
///    layer's channels. None for a layer whose network after its pooling is linear, when
///    every output element was projected: there the first-order values are exact.
/// 4. Estimates: for a re-run (channel, candidate), the ratio estimator mean proxy over all
///    samples x (sum of exact / sum of proxy over the re-run samples); the proxy carries the
///    sample-to-sample variation (cutting the noise of few exact samples) and the ratio,
///    measured per candidate, corrects what first order gets wrong (ReLUs and pooling
///    further on). Other shortlist candidates stay unmeasured (out of the knapsack).
///    Channels not re-run get, for every candidate, the proxy times the layer's ratio for
///    that candidate (pooled over the re-run channels).
extension DistortionMeasurement {
    func measureFast(_ table: inout DistortionTable, samples: Int) throws {
        var estimator = try FastEstimator(self, layers: table.layers, samples: samples)
        try estimator.measureProxies()
        estimator.chooseShortlists()
        estimator.selectReruns()
        table.suffixRuns = try estimator.runExact()
        for index in table.layers.indices { table.layers[index].distortion = estimator.estimates(layer: index) }
    }

    /// Whether every op that depends on `value` is linear (affine) in it.
    func linearAfter(_ value: ValueID) -> Bool {
        var live: Set<ValueID> = [value]
        for node in graph.nodes where node.operands.contains(where: { live.contains($0) }) {
            live.insert(node.result)
            guard node.op.isAffine(inOperands: node.operands.indices.filter { live.contains(node.operands[$0]) }) else { return false }
        }
        return true
    }

    func suffixMACs(from value: ValueID) -> Double { graph.suffixMACs(from: value) }
}

extension Graph {
    /// Multiply-adds per sample of the ops that depend on `value` (convolutions and dense
    /// layers at their MAC count, every other op at its result size).
    public func suffixMACs(from value: ValueID) -> Double {
        var live: Set<ValueID> = [value]
        var total = 0.0
        for node in nodes where node.operands.contains(where: { live.contains($0) }) {
            live.insert(node.result)
            let elements = Double(type(of: node.result).elementCount)
            switch node.op.kind {
            case .conv:
                let weight = type(of: node.operands[1]).shape
                total += elements * Double(weight.dropFirst().reduce(1, *))
            case .dense:
                total += elements * Double(type(of: node.operands[1]).shape[1])
            case .constant, .batchNorm, .relu, .relu6, .clip, .blockReLU, .maxPool, .avgPool, .globalAvgPool, .add, .sub, .mul, .div,
                .reshape, .transpose, .slice, .concat, .pad, .resize, .identity, .softmax, .argMax:
                total += elements
            }
        }
        return total
    }
}

/// Projections of the output: per output o of O_o elements per sample, seeds scaled by
/// 1/sqrt(O_o), so that sum_k (v_k . J delta)^2 (basis) or its mean over k (Gaussian)
/// estimates the distortion's sum over outputs of |change|^2 / O_o.
struct OutputProjections {
    /// Elements per sample of each graph output.
    let outputSizes: [Int]
    /// Whether first-order proxies are available (else every proxy is a local error).
    let firstOrder: Bool
    /// One projection per output element (at most 16 of them), else random Gaussian ones.
    let basis: Bool
    let count: Int

    init(graph: Graph, differentiable: Bool, randomProjections: Int) {
        outputSizes = graph.outputs.map { graph.type(of: $0).shape.dropFirst().reduce(1, *) }
        let totalOutputs = outputSizes.reduce(0, +)
        firstOrder = differentiable && graph.outputs.allSatisfy { graph.type(of: $0).dtype == .f32 } && totalOutputs > 0
        basis = totalOutputs <= 16
        count = firstOrder ? (basis ? totalOutputs : max(1, randomProjections)) : 0
    }

    /// Turns a sum over projections of squared projected changes into the proxy.
    var scale: Double { basis ? 1.0 : 1.0 / Double(max(count, 1)) }
    /// Gradients are stored with the projections innermost, padded to whole SIMD8 lanes.
    var lanes: Int { (count + 7) / 8 }
    var paddedCount: Int { lanes * 8 }

    /// Projection vector k of calibration sample `sample`, one part per output: basis
    /// vectors, or Gaussian ones drawn afresh for every sample (so that their errors average
    /// out over the samples instead of biasing whole channels).
    func vectors(_ k: Int, sample: Int) -> [[Float]] {
        var generator = SplitMix(seed: 0x6d70_6363 &+ UInt64(sample) &* 0x1_0000 &+ UInt64(k))
        var flat = 0
        return outputSizes.map { size in
            let scale = 1 / Float(size).squareRoot()
            return (0..<size).map { _ in
                defer { flat += 1 }
                return basis ? (flat == k ? scale : 0) : generator.normal() * scale
            }
        }
    }
}

/// What the stages of `measureFast` share, filled in stage by stage.
struct FastEstimator {
    let measurement: DistortionMeasurement
    let layers: [DistortionTable.Layer]
    let samples: Int
    /// The first `reruns` samples are the ones re-run exactly.
    let reruns: Int
    let projections: OutputProjections
    /// The first op the backward pass cannot go through, when there is one.
    let unsupported: String?
    let frontiers: [Frontier]

    /// Stage 1, flat per layer: proxySum[channel * candidates + candidate] over every
    /// sample, proxySample[(channel * candidates + candidate) * reruns + sample] for the
    /// samples that are re-run.
    var proxySum: [[Double]]
    var proxySample: [[Double]]
    /// Stage 2: the candidate indices of each layer's channels.
    var shortlists: [[Set<Int>]] = []
    /// Stage 3: layers whose first-order values are exact, and the channels re-run.
    var exactFirstOrder: [Bool] = []
    var selected: [[Int]] = []
    /// exact[layer][channel][candidate * reruns + sample]; empty where not re-run.
    var exact: [[[Double]]] = []
    /// Samples each layer's estimates use.
    var used: [Int] = []

    init(_ measurement: DistortionMeasurement, layers: [DistortionTable.Layer], samples: Int) throws {
        self.measurement = measurement
        self.layers = layers
        self.samples = samples
        let rerunCount = min(samples, max(1, measurement.fastSamples))
        reruns = rerunCount
        let probe = try FloatEngine(graph: measurement.graph, fuseActivations: false)
        unsupported = probe.backwardUnsupported(from: layers.map(\.layer.output))
        projections = OutputProjections(
            graph: measurement.graph, differentiable: unsupported == nil, randomProjections: measurement.fastProjections)
        let firstOrder = projections.firstOrder
        frontiers = layers.map { measurement.frontier(of: $0.layer, firstOrder: firstOrder) }
        proxySum = layers.map { [Double](repeating: 0, count: $0.layer.channels * $0.candidates.count) }
        proxySample = layers.map { [Double](repeating: 0, count: $0.layer.channels * $0.candidates.count * rerunCount) }
    }

    /// Stage 2: shortlists on the mean proxy.
    mutating func chooseShortlists() {
        shortlists = layers.indices.map { index in
            let count = layers[index].candidates.count
            return (0..<layers[index].layer.channels).map { channel in
                measurement.shortlist(layers[index], errors: Array(proxySum[index][(channel * count)..<((channel + 1) * count)]))
            }
        }
    }

    /// Stage 4: the estimates of one layer, [channel][candidate].
    func estimates(layer index: Int) -> [[Double]] {
        let layer = layers[index]
        let count = layer.candidates.count
        let relu = layer.candidates.firstIndex(of: .relu)
        let r = used[index]
        func exactTotal(_ channel: Int, _ candidate: Int) -> Double {
            exact[index][channel][(candidate * reruns)..<(candidate * reruns + r)].reduce(0, +)
        }
        func proxyTotal(_ channel: Int, _ candidate: Int) -> Double {
            let base = (channel * count + candidate) * reruns
            return proxySample[index][base..<(base + r)].reduce(0, +)
        }
        // The layer's ratio of exact to proxy per candidate, pooled over the re-run channels.
        var exactTotals = [Double](repeating: 0, count: count), proxyTotals = exactTotals
        for channel in selected[index] {
            for candidate in shortlists[index][channel] {
                exactTotals[candidate] += exactTotal(channel, candidate)
                proxyTotals[candidate] += proxyTotal(channel, candidate)
            }
        }
        let pooled = proxyTotals.reduce(0, +) > 0 ? exactTotals.reduce(0, +) / proxyTotals.reduce(0, +) : 1
        let layerRatio = layer.candidates.indices.map { proxyTotals[$0] > 0 ? exactTotals[$0] / proxyTotals[$0] : pooled }
        let rerun = Set(selected[index])
        return (0..<layer.layer.channels).map { channel in
            layer.candidates.indices.map { candidate in
                if candidate == relu { return 0 }
                let meanProxy = proxySum[index][channel * count + candidate] / Double(samples)
                if exactFirstOrder[index] { return meanProxy }
                guard rerun.contains(channel) else { return meanProxy * layerRatio[candidate] }
                guard shortlists[index][channel].contains(candidate) else { return .infinity }
                let (e, p) = (exactTotal(channel, candidate), proxyTotal(channel, candidate))
                if r == samples || p <= 0 { return e / Double(r) }
                return meanProxy * e / p
            }
        }
    }
}
