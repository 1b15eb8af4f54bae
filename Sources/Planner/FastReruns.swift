import FloatEngine
import IR

// Stage 3 of the fast estimator: exact re-runs of the network suffix for the shortlists.
extension FastEstimator {
    /// Which channels are re-run, within the multiply-add budget. None of a layer whose
    /// network after its frontier is linear when every output was projected: there the
    /// first-order values are the exact ones.
    mutating func selectReruns() {
        let (firstOrder, basis) = (projections.firstOrder, projections.basis)
        exactFirstOrder = frontiers.map { firstOrder && basis && measurement.linearAfter($0.value) }
        let suffix = layers.map { measurement.suffixMACs(from: $0.layer.output) }
        let shortlisted = shortlists.map { $0.reduce(0) { $0 + $1.count } }
        let fullCost = layers.indices.reduce(0.0) { total, index in total + Double(shortlisted[index]) * Double(reruns) * suffix[index] }
        if fullCost <= measurement.fastRerunMACs {
            selected = layers.indices.map { exactFirstOrder[$0] ? [] : Array(0..<layers[$0].layer.channels) }
        } else {
            let perLayer = measurement.fastRerunMACs / Double(layers.count)
            selected = layers.indices.map { index in
                let channels = layers[index].layer.channels
                let average = Double(shortlisted[index]) / Double(max(channels, 1))
                let affordable = Int(perLayer / max(1, average * Double(reruns) * suffix[index]))
                let count = exactFirstOrder[index] ? 0 : min(channels, max(2, affordable))
                return (0..<count).map { $0 * channels / count }
            }
        }
        exact = layers.map { layer in [[Double]](repeating: [], count: layer.layer.channels) }
        for index in layers.indices {
            for channel in selected[index] { exact[index][channel] = [Double](repeating: 0, count: layers[index].candidates.count * reruns) }
        }
    }

    /// The re-runs: first on half the samples; layers whose ratio estimates are still noisy
    /// then on the rest. Returns the suffix runs they took.
    mutating func runExact() throws -> Int {
        let rerunLayers = layers.indices.filter { !selected[$0].isEmpty }
        let pilot = reruns == samples ? reruns : max(1, reruns / 2)
        used = layers.map { _ in pilot }
        var runs = try rerunPass(0..<pilot, active: rerunLayers, title: "distortion (fast, re-runs of \(selected.reduce(0) { $0 + $1.count }) channels on \(pilot) samples)")
        guard pilot < reruns else { return runs }
        let noisy = noisyLayers(rerunLayers, pilot: pilot)
        if !noisy.isEmpty {
            runs += try rerunPass(
                pilot..<reruns, active: noisy,
                title: "distortion (fast, re-runs of \(noisy.reduce(0) { $0 + selected[$1].count }) channels on \(reruns - pilot) more samples)")
            for index in noisy { used[index] = reruns }
        }
        return runs
    }

    /// Of `candidates`, the layers whose ratio estimates on the first `pilot` samples have
    /// a median relative standard error above `fastTolerance`.
    func noisyLayers(_ candidates: [Int], pilot: Int) -> [Int] {
        candidates.filter { index in
            let count = layers[index].candidates.count
            var errors: [Double] = []
            for channel in selected[index] {
                for candidate in shortlists[index][channel] {
                    let base = (channel * count + candidate) * reruns
                    let e = exact[index][channel][(candidate * reruns)..<(candidate * reruns + pilot)]
                    let p = proxySample[index][base..<(base + pilot)]
                    let (exactTotal, proxyTotal) = (e.reduce(0, +), p.reduce(0, +))
                    guard exactTotal > 0, proxyTotal > 0, pilot > 1 else { continue }
                    let ratio = exactTotal / proxyTotal
                    let residual = zip(e, p).reduce(0.0) { $0 + ($1.0 - ratio * $1.1) * ($1.0 - ratio * $1.1) }
                    errors.append((residual / Double(pilot * (pilot - 1))).squareRoot() / (exactTotal / Double(pilot)))
                }
            }
            errors.sort()
            return errors.isEmpty || errors[errors.count / 2] > measurement.fastTolerance
        }
    }

    /// Re-runs of the shortlists of the selected channels of `active` layers on the
    /// samples `range`, into `exact`. Returns the suffix runs it took.
    mutating func rerunPass(_ range: Range<Int>, active: [Int], title: String) throws -> Int {
        let chunkSize = measurement.chunkSize
        let chunks = stride(from: range.lowerBound, to: range.upperBound, by: chunkSize).map { $0..<min($0 + chunkSize, range.upperBound) }
        let perChunk = active.reduce(0) { total, index in total + selected[index].reduce(0) { $0 + shortlists[index][$1].count } }
        let progress = ProgressReporter(title, total: chunks.count * perChunk, enabled: measurement.showProgress)
        for chunk in chunks {
            let (engine, cached) = try measurement.cachedRun(chunk)
            let clean = engine.graph.outputs.map { cached[$0.index]!.floats }
            for index in active {
                let chosen = selected[index]
                for (slot, errors) in try rerunChannels(index, engine, cached, clean: clean, progress).enumerated() {
                    for (candidate, perSample) in errors {
                        for (offset, value) in perSample.enumerated() { exact[index][chosen[slot]][candidate * reruns + chunk.lowerBound + offset] = value }
                    }
                }
            }
        }
        return chunks.count * perChunk
    }

    /// For each selected channel of layer `index`, in parallel: the per-sample output
    /// distortion of each shortlisted candidate on the engine's batch.
    func rerunChannels(
        _ index: Int, _ engine: FloatEngine, _ cached: [Tensor?], clean: [[Float]], _ progress: ProgressReporter
    ) throws -> [[Int: [Double]]] {
        let layer = layers[index]
        let x = cached[layer.layer.input.index]!
        let xValues = x.floats
        let chosen = selected[index]
        let samples = x.shape[0]
        var results = [(errors: [Int: [Double]], failure: (any Error)?)](repeating: ([:], nil), count: chosen.count)
        results.withUnsafeMutableBufferPointer { slots in
            parallelFor(chosen.count) { slot in
                let channel = chosen[slot]
                var errors: [Int: [Double]] = [:]
                var failure: (any Error)?
                for candidate in shortlists[index][channel].sorted() {
                    do {
                        let planes = blockPlanes(xValues, shape: x.shape, channel: channel, block: layer.candidates[candidate])
                        let outputs = try engine.rerunChannel(cached, replacing: layer.layer.output, channel: channel, with: planes)
                        errors[candidate] = perSampleDistortion(outputs, clean, samples: samples)
                    } catch {
                        failure = error
                    }
                }
                slots[slot] = (errors, failure)
                progress.advance(shortlists[index][channel].count)
            }
        }
        return try results.map { result in
            if let failure = result.failure { throw failure }
            return result.errors
        }
    }
}

/// Per sample, the sum over outputs of the mean squared difference from the clean outputs.
func perSampleDistortion(_ outputs: [Tensor], _ clean: [[Float]], samples: Int) -> [Double] {
    var perSample = [Double](repeating: 0, count: samples)
    for (output, reference) in zip(outputs, clean) {
        let size = output.elementCount / samples
        let a = output.floats
        for sample in 0..<samples {
            var total = 0.0
            for element in (sample * size)..<((sample + 1) * size) {
                let d = Double(a[element]) - Double(reference[element])
                total += d * d
            }
            perSample[sample] += total / Double(max(size, 1))
        }
    }
    return perSample
}
