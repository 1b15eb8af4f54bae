import FloatEngine
import IR

/// How distortion is estimated.
public enum DistortionMethod: String, Sendable, CaseIterable {
    /// The reference's definition: for every (layer, channel, candidate), re-run the rest
    /// of the network with only that channel changed. The yardstick; practical for small
    /// models.
    case exact
    /// Exact runs for two anchor candidates per channel (identity and one of middle cost)
    /// calibrate a per-channel scale for the cheap local error of every other candidate
    /// (the mean squared change of the channel itself). About 2 re-runs per channel
    /// instead of one per candidate.
    case fast
}

/// Measures a DistortionTable for the ReLU layers of a (batch-1, rewritten) graph on
/// calibration inputs [N, ...], in chunks of samples run as one batch.
public struct DistortionMeasurement {
    public var graph: Graph
    public var calibration: Tensor
    public var chunkSize: Int
    public var showProgress: Bool

    public init(graph: Graph, calibration: Tensor, chunkSize: Int = 32, showProgress: Bool = true) {
        self.graph = graph
        self.calibration = calibration
        self.chunkSize = chunkSize
        self.showProgress = showProgress
    }

    public func measure(_ method: DistortionMethod) throws -> DistortionTable {
        let layers = ReLULayer.all(in: graph)
        var table = DistortionTable(layers: layers.map { layer in
            let candidates = BlockCandidates.forMap(height: layer.height, width: layer.width)
            return DistortionTable.Layer(
                layer: layer, candidates: candidates, costs: candidates.map { $0.drelus(height: layer.height, width: layer.width) },
                distortion: Array(repeating: Array(repeating: 0, count: candidates.count), count: layer.channels))
        })
        let samples = calibration.shape.first ?? 0
        guard samples > 0 else { throw PlanError("the calibration set is empty") }
        let perSample = calibration.elementCount / samples
        let chunks = stride(from: 0, to: samples, by: chunkSize).map { $0..<min($0 + chunkSize, samples) }

        // Which candidates get an exact re-run, per layer and channel.
        let exactCandidates: [[Int]] = table.layers.map { layer in
            switch method {
            case .exact:
                return layer.candidates.indices.filter { layer.candidates[$0] != .relu }
            case .fast:
                return anchors(layer)
            }
        }
        let work = chunks.count * zip(table.layers, exactCandidates).reduce(0) { $0 + $1.0.layer.channels * $1.1.count }
        let progress = ProgressReporter("distortion (\(method.rawValue))", total: work, enabled: showProgress)
        var local = table.layers.map { Array(repeating: Array(repeating: 0.0, count: $0.candidates.count), count: $0.layer.channels) }

        let values = calibration.floats
        for chunk in chunks {
            let shape = [chunk.count] + calibration.shape.dropFirst()
            let input = Tensor(shape: shape, floats: Array(values[(chunk.lowerBound * perSample)..<(chunk.upperBound * perSample)]))
            let engine = try FloatEngine(graph: try graph.rebatched(chunk.count), fuseActivations: false)
            let cached = try engine.runKeepingValues([input])
            let clean = engine.graph.outputs.map { cached[$0.index]! }
            for (layerIndex, layer) in table.layers.enumerated() {
                let x = cached[layer.layer.input.index]!, y = cached[layer.layer.output.index]!
                let xValues = x.floats
                let runs = Set(exactCandidates[layerIndex])
                // Channels are independent: spread them over the cores.
                var rows = [[Double]](repeating: [], count: layer.layer.channels)
                var localRows = [[Double]](repeating: [], count: layer.layer.channels)
                var failures = [(any Error)?](repeating: nil, count: layer.layer.channels)
                failures.withUnsafeMutableBufferPointer { failureBuffer in
                rows.withUnsafeMutableBufferPointer { rowBuffer in
                    localRows.withUnsafeMutableBufferPointer { localBuffer in
                        parallelFor(layer.layer.channels) { channel in
                            var row = [Double](repeating: 0, count: layer.candidates.count)
                            var localRow = row
                            let relu = blockPlanes(xValues, shape: x.shape, channel: channel, block: .relu)
                            for candidate in layer.candidates.indices where layer.candidates[candidate] != .relu {
                                // The local error: how much the channel itself changes, per sample.
                                let planes = blockPlanes(xValues, shape: x.shape, channel: channel, block: layer.candidates[candidate])
                                localRow[candidate] = zip(planes, relu).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(max(relu.count / chunk.count, 1))
                                guard runs.contains(candidate) else { continue }
                                let changed = replacingChannel(y, channel: channel, with: planes)
                                do {
                                    let outputs = try engine.rerun(cached, replacing: layer.layer.output, with: changed)
                                    row[candidate] = zip(outputs, clean).reduce(0) { $0 + squaredError($1.0, $1.1, samples: chunk.count) }
                                } catch {
                                    failureBuffer[channel] = error
                                }
                            }
                            rowBuffer[channel] = row
                            localBuffer[channel] = localRow
                        }
                    }
                }
                }
                if let failure = failures.compactMap({ $0 }).first { throw failure }
                for channel in 0..<layer.layer.channels {
                    for candidate in layer.candidates.indices {
                        table.layers[layerIndex].distortion[channel][candidate] += rows[channel][candidate]
                        local[layerIndex][channel][candidate] += localRows[channel][candidate]
                    }
                }
                progress.advance(layer.layer.channels * runs.count)
            }
            table.suffixRuns += zip(table.layers, exactCandidates).reduce(0) { $0 + $1.0.layer.channels * $1.1.count }
        }
        for layerIndex in table.layers.indices {
            for channel in 0..<table.layers[layerIndex].layer.channels {
                table.layers[layerIndex].distortion[channel] = table.layers[layerIndex].distortion[channel].map { $0 / Double(samples) }
                local[layerIndex][channel] = local[layerIndex][channel].map { $0 / Double(samples) }
            }
        }
        if method == .fast { calibrate(&table, local: local, anchors: exactCandidates) }
        return table
    }

    /// The candidates `fast` measures exactly: identity, and the candidate whose cost is
    /// closest to the geometric middle of the layer's cost range.
    func anchors(_ layer: DistortionTable.Layer) -> [Int] {
        var result: [Int] = []
        if let identity = layer.candidates.firstIndex(of: .identity) { result.append(identity) }
        let maxCost = Double(layer.costs.max() ?? 1)
        let target = maxCost.squareRoot()
        let middle = layer.candidates.indices.filter { layer.candidates[$0].isPatch && layer.candidates[$0] != .relu }
            .min { abs(Double(layer.costs[$0]) - target) < abs(Double(layer.costs[$1]) - target) }
        if let middle { result.append(middle) }
        return result
    }

    /// Fills unmeasured candidates with the local error times a per-channel scale fitted
    /// (least squares through the origin) to the anchors' exact values.
    func calibrate(_ table: inout DistortionTable, local: [[[Double]]], anchors: [[Int]]) {
        for layerIndex in table.layers.indices {
            let measured = Set(anchors[layerIndex])
            for channel in 0..<table.layers[layerIndex].layer.channels {
                var numerator = 0.0, denominator = 0.0
                for candidate in measured {
                    let l = local[layerIndex][channel][candidate]
                    numerator += table.layers[layerIndex].distortion[channel][candidate] * l
                    denominator += l * l
                }
                let scale = denominator > 0 ? numerator / denominator : 0
                for candidate in table.layers[layerIndex].candidates.indices where !measured.contains(candidate) {
                    table.layers[layerIndex].distortion[channel][candidate] = scale * local[layerIndex][channel][candidate]
                }
            }
        }
    }
}

