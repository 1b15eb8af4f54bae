import FloatEngine
import IR

/// How distortion is estimated.
public enum DistortionMethod: String, Sendable, CaseIterable {
    /// The reference's definition: for every (layer, channel, candidate), re-run the rest
    /// of the network with only that channel changed. The yardstick; practical for small
    /// models.
    case exact
    /// A first-order estimate of every candidate on every sample (backward passes of the
    /// output), exact re-runs of each channel's shortlist on the first `fastSamples`
    /// samples, combined by a ratio estimator (FastDistortion.swift).
    case fast
}

/// Measures a DistortionTable for the ReLU layers of a (batch-1, rewritten) graph on
/// calibration inputs [N, ...], in chunks of samples run as one batch.
public struct DistortionMeasurement {
    public var graph: Graph
    public var calibration: Tensor
    public var chunkSize: Int
    public var showProgress: Bool

    public init(graph: Graph, calibration: Tensor, chunkSize: Int = 32, fastSamples: Int = 32, showProgress: Bool = true) {
        self.graph = graph
        self.calibration = calibration
        self.chunkSize = chunkSize
        self.fastSamples = fastSamples
        self.showProgress = showProgress
    }

    /// Samples `fast` re-runs its shortlists on at most (the first half for every layer,
    /// the rest for noisy layers; the first-order stage uses every sample). More samples
    /// cost proportionally more time and give plans closer to `exact`'s.
    public var fastSamples: Int

    /// Random output projections of the first-order stage when the output has more than 16
    /// elements (with at most 16, every output element is one exactly).
    public var fastProjections: Int = 8

    /// Multiply-adds `fast` may spend on exact re-runs: the shortlists of every channel when
    /// they fit, else of an evenly spread sample of each layer's channels (the others are
    /// calibrated per layer).
    public var fastRerunMACs: Double = 1e12

    /// `fast` re-runs every layer on half of `fastSamples` first, and on the rest only the
    /// layers whose ratio estimates have a median relative standard error above this.
    public var fastTolerance: Double = 0.03

    public func measure(_ method: DistortionMethod) throws -> DistortionTable {
        var table = DistortionTable(layers: ReLULayer.all(in: graph).map { layer in
            let candidates = BlockCandidates.forMap(height: layer.height, width: layer.width)
            return DistortionTable.Layer(
                layer: layer, candidates: candidates, costs: candidates.map { $0.drelus(height: layer.height, width: layer.width) },
                distortion: Array(repeating: Array(repeating: 0, count: candidates.count), count: layer.channels))
        })
        table.method = method
        let samples = calibration.shape.first ?? 0
        guard samples > 0 else { throw PlanError("the calibration set is empty") }
        let chunks = stride(from: 0, to: samples, by: chunkSize).map { $0..<min($0 + chunkSize, samples) }

        if method == .exact {
            let everything = table.layers.map { layer in
                Array(repeating: Set(layer.candidates.indices.filter { layer.candidates[$0] != .relu }), count: layer.layer.channels)
            }
            let sums = try sweep(table, chunks: chunks, reruns: everything, title: "distortion (exact)")
            table.suffixRuns = sums.runs
            for index in table.layers.indices {
                table.layers[index].distortion = sums.measured[index].map { $0.map { $0 / Double(samples) } }
            }
            return table
        }

        try measureFast(&table, samples: samples)
        return table
    }

    /// Sums over `chunks` of the output distortion of the re-run candidates and of the
    /// local error (kept split into negatives let through and positives zeroed, for
    /// analysis); [layer][channel][candidate].
    private struct Sums {
        var measured: [[[Double]]]
        var negatives: [[[Double]]]
        var positives: [[[Double]]]
        var runs = 0
    }

    private func sweep(_ table: DistortionTable, chunks: [Range<Int>], reruns: [[Set<Int>]]?, title: String) throws -> Sums {
        var sums = Sums(measured: table.layers.map { zeros($0) }, negatives: table.layers.map { zeros($0) }, positives: table.layers.map { zeros($0) })
        let perChunk = reruns.map { $0.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } } } ?? 0
        let progress = ProgressReporter(title, total: chunks.count * max(perChunk, table.layers.count), enabled: showProgress)
        for chunk in chunks {
            let (engine, cached) = try cachedRun(chunk)
            let clean = engine.graph.outputs.map { cached[$0.index]! }
            for (index, layer) in table.layers.enumerated() {
                let x = cached[layer.layer.input.index]!, y = cached[layer.layer.output.index]!
                let xValues = x.floats
                let planeSize = layer.layer.height * layer.layer.width
                let count = layer.candidates.count
                // One slot per channel: channels run concurrently and write only their own.
                var results = [ChannelSums](repeating: ChannelSums(count: 0), count: layer.layer.channels)
                results.withUnsafeMutableBufferPointer { slots in
                    parallelFor(layer.layer.channels) { channel in
                        var channelSums = ChannelSums(count: count)
                        let relu = blockPlanes(xValues, shape: x.shape, channel: channel, block: .relu)
                        for candidate in layer.candidates.indices where layer.candidates[candidate] != .relu {
                            let planes = blockPlanes(xValues, shape: x.shape, channel: channel, block: layer.candidates[candidate])
                            for (changed, original) in zip(planes, relu) where changed != original {
                                let error = Double((changed - original) * (changed - original)) / Double(planeSize)
                                if original == 0 { channelSums.negatives[candidate] += error } else { channelSums.positives[candidate] += error }
                            }
                            guard let reruns, reruns[index][channel].contains(candidate) else { continue }
                            do {
                                let changed = replacingChannel(y, channel: channel, with: planes)
                                let outputs = try engine.rerun(cached, replacing: layer.layer.output, with: changed)
                                channelSums.distortion[candidate] = zip(outputs, clean).reduce(0) { $0 + squaredError($1.0, $1.1, samples: chunk.count) }
                            } catch {
                                channelSums.failure = error
                            }
                        }
                        slots[channel] = channelSums
                        if let reruns { progress.advance(reruns[index][channel].count) }
                    }
                }
                for (channel, result) in results.enumerated() {
                    if let failure = result.failure { throw failure }
                    for candidate in 0..<count {
                        sums.measured[index][channel][candidate] += result.distortion[candidate]
                        sums.negatives[index][channel][candidate] += result.negatives[candidate]
                        sums.positives[index][channel][candidate] += result.positives[candidate]
                    }
                }
                let layerRuns = reruns.map { $0[index].reduce(0) { $0 + $1.count } } ?? 0
                sums.runs += layerRuns
                if reruns == nil { progress.advance() }
            }
        }
        return sums
    }

    /// Candidates on the lower convex hull of (cost, error), from identity to 1x1, plus
    /// identity itself.
    func shortlist(_ layer: DistortionTable.Layer, errors: [Double]) -> Set<Int> {
        let order = layer.candidates.indices.sorted { (layer.costs[$0], errors[$0]) < (layer.costs[$1], errors[$1]) }
        var hull: [Int] = []
        for candidate in order {
            if let last = hull.last, layer.costs[last] == layer.costs[candidate] { continue }  // same cost, worse error
            while hull.count >= 2 {
                let (p, q) = (hull[hull.count - 2], hull[hull.count - 1])
                // Drop q if it lies on or above the segment from p to the new point.
                let cross = Double(layer.costs[q] - layer.costs[p]) * (errors[candidate] - errors[p])
                    - (errors[q] - errors[p]) * Double(layer.costs[candidate] - layer.costs[p])
                if cross <= 0 { hull.removeLast() } else { break }
            }
            hull.append(candidate)
        }
        var result = Set(hull.filter { layer.candidates[$0] != .relu })
        if let identity = layer.candidates.firstIndex(of: .identity) { result.insert(identity) }
        return result
    }

    /// Calibration samples `rows` as one batch.
    func calibrationRows(_ rows: Range<Int>) -> Tensor {
        let perSample = calibration.elementCount / max(calibration.shape.first ?? 1, 1)
        return Tensor(shape: [rows.count] + calibration.shape.dropFirst(), floats: Array(calibration.floats[(rows.lowerBound * perSample)..<(rows.upperBound * perSample)]))
    }

    /// The graph rebatched to `rows`, run on those samples keeping every value.
    func cachedRun(_ rows: Range<Int>) throws -> (engine: FloatEngine, cached: [Tensor?]) {
        let engine = try FloatEngine(graph: try graph.rebatched(rows.count), fuseActivations: false)
        return (engine, try engine.runKeepingValues([calibrationRows(rows)]))
    }

    private func zeros(_ layer: DistortionTable.Layer) -> [[Double]] {
        Array(repeating: Array(repeating: 0.0, count: layer.candidates.count), count: layer.layer.channels)
    }
}

/// What one channel's work in a chunk adds up, by candidate.
struct ChannelSums {
    var distortion: [Double]
    var negatives: [Double]
    var positives: [Double]
    var failure: (any Error)?

    init(count: Int) {
        distortion = Array(repeating: 0, count: count)
        negatives = distortion
        positives = distortion
    }
}
