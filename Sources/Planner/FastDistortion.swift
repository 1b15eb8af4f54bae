import FloatEngine
import IR
import SharedKernels

#if canImport(Glibc)
import Glibc
#endif

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
        let layers = table.layers
        let reruns = min(samples, max(1, fastSamples))

        // Projections of the output: per output o of O_o elements per sample, seeds scaled
        // by 1/sqrt(O_o), so that sum_k (v_k . J delta)^2 (basis) or its mean over k
        // (Gaussian) estimates the distortion's sum over outputs of |change|^2 / O_o.
        let outputSizes = graph.outputs.map { graph.type(of: $0).shape.dropFirst().reduce(1, *) }
        let totalOutputs = outputSizes.reduce(0, +)
        let probe = try FloatEngine(graph: graph, fuseActivations: false)
        let unsupported = probe.backwardUnsupported(from: layers.map(\.layer.output))
        let firstOrder = unsupported == nil && graph.outputs.allSatisfy { graph.type(of: $0).dtype == .f32 } && totalOutputs > 0
        let basis = totalOutputs <= 16
        let projectionCount = firstOrder ? (basis ? totalOutputs : max(1, fastProjections)) : 0
        // The projection vector k of sample `sample` for each output: basis vectors, or
        // Gaussian ones drawn afresh for every sample (so that their errors average out over
        // the samples instead of biasing whole channels).
        func projection(_ k: Int, sample: Int) -> [[Float]] {
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
        let proxyScale = basis ? 1.0 : 1.0 / Double(max(projectionCount, 1))
        // Gradients are stored with the projections innermost, padded to whole SIMD8 lanes.
        let lanes = (projectionCount + 7) / 8, kStride = lanes * 8

        // Stage 1: proxies on every sample. A layer whose output feeds only pooling (max
        // pooling after ReLUs is where first order fails most) is followed exactly through
        // it, one channel at a time, and linearized after it.
        let frontiers = layers.map { frontier(of: $0.layer, firstOrder: firstOrder) }
        let layerElements = layers.reduce(0) { $0 + $1.layer.channels * $1.layer.height * $1.layer.width }
        let gradientBudget = 1 << 26  // floats of gradients held at once (256 MB)
        let stageChunk = max(1, min(chunkSize, gradientBudget / max(1, layerElements * max(kStride, 1))))
        let stageChunks = stride(from: 0, to: samples, by: stageChunk).map { $0..<min($0 + stageChunk, samples) }
        // Flat per layer: proxySum[channel * candidates + candidate], proxySample[(channel *
        // candidates + candidate) * reruns + sample] for the samples that are re-run.
        var proxySum = layers.map { [Double](repeating: 0, count: $0.layer.channels * $0.candidates.count) }
        var proxySample = layers.map { [Double](repeating: 0, count: $0.layer.channels * $0.candidates.count * reruns) }
        let title = firstOrder
            ? "distortion (fast, first order, \(projectionCount) \(basis ? "outputs" : "projections"))"
            : "distortion (fast, local errors\(unsupported.map { "; no backward through \($0)" } ?? ""))"
        let stageProgress = ProgressReporter(title, total: stageChunks.count * layers.count, enabled: showProgress)
        var engines: [Int: FloatEngine] = [:]
        func engine(_ size: Int) throws -> FloatEngine {
            if let engine = engines[size] { return engine }
            let engine = try FloatEngine(graph: try graph.rebatched(size), fuseActivations: false)
            engines[size] = engine
            return engine
        }
        for chunk in stageChunks {
            let n = chunk.count
            let engine = try engine(n)
            let cached = try engine.runKeepingValues([calibrationRows(chunk)])
            // gradients[layer]: [n][C][plane][K], K innermost.
            var gradients = frontiers.enumerated().map { index, frontier in
                [Float](repeating: 0, count: firstOrder ? n * layers[index].layer.channels * frontier.plane * kStride : 0)
            }
            for k in 0..<projectionCount {
                let vectors = chunk.map { projection(k, sample: $0) }
                let outputGradients = engine.graph.outputs.indices.map { output in
                    Tensor(shape: engine.graph.type(of: engine.graph.outputs[output]).shape, floats: vectors.flatMap { $0[output] })
                }
                let wanted = Array(Set(frontiers.map(\.value)))
                let result = try engine.backward(cached, outputGradients: outputGradients, wanted: wanted)
                for index in layers.indices {
                    let g = result[frontiers[index].value]!.floats
                    gradients[index].withUnsafeMutableBufferPointer { target in
                        g.withUnsafeBufferPointer { source in
                            let (from, to) = (source.baseAddress!, target.baseAddress! + k)
                            for position in 0..<source.count { to[position * kStride] = from[position] }
                        }
                    }
                }
            }
            for (index, layer) in layers.enumerated() {
                let x = cached[layer.layer.input.index]!.floats
                let frontier = frontiers[index]
                let pooled = frontier.pools.isEmpty ? [] : cached[frontier.value.index]!.floats
                let (channels, plane) = (layer.layer.channels, layer.layer.height * layer.layer.width)
                let (h, w) = (layer.layer.height, layer.layer.width)
                let candidates = layer.candidates
                let count = candidates.count
                let kCount = projectionCount, laneCount = lanes
                // proxies[channel][sample * count + candidate]
                var results = [[Double]](repeating: [], count: channels)
                results.withUnsafeMutableBufferPointer { slots in
                    x.withUnsafeBufferPointer { xs in
                        gradients[index].withUnsafeBufferPointer { gs in
                            parallelFor(channels) { channel in
                                var proxies = [Double](repeating: 0, count: n * count)
                                var dots = [SIMD8<Float>](repeating: .zero, count: max(laneCount, 1))
                                let gRaw = UnsafeRawPointer(gs.baseAddress ?? UnsafePointer<Float>(bitPattern: 64)!)
                                let source = xs.baseAddress!
                                var changed = [Float](repeating: 0, count: plane)
                                var scratch: [Float] = []
                                for sample in 0..<n {
                                    let xb = (sample * channels + channel) * plane
                                    let xp = source + xb
                                    for (ci, block) in candidates.enumerated() where block != .relu {
                                        var local: Float = 0
                                        for lane in 0..<laneCount { dots[lane] = .zero }
                                        changed.withUnsafeMutableBufferPointer { buffer in
                                            // This channel's plane under `block`.
                                            let out = buffer.baseAddress!
                                            if block.isPatch {
                                                for top in stride(from: 0, to: h, by: block.height) {
                                                    for left in stride(from: 0, to: w, by: block.width) {
                                                        let bottom = min(top + block.height, h), right = min(left + block.width, w)
                                                        var sum: Float = 0
                                                        for row in top..<bottom { for column in left..<right { sum += xp[row * w + column] } }
                                                        let keep = sum > 0
                                                        for row in top..<bottom {
                                                            for column in left..<right { out[row * w + column] = keep ? xp[row * w + column] : 0 }
                                                        }
                                                    }
                                                }
                                            } else {
                                                for i in 0..<plane { out[i] = block.isIdentity ? xp[i] : 0 }
                                            }
                                            if frontier.pools.isEmpty {
                                                for i in 0..<plane {
                                                    let d = out[i] - max(xp[i], 0)
                                                    if d == 0 { continue }
                                                    local += d * d
                                                    let gb = (xb + i) * laneCount * 32
                                                    for lane in 0..<laneCount { dots[lane] += gRaw.loadUnaligned(fromByteOffset: gb + lane * 32, as: SIMD8<Float>.self) * d }
                                                }
                                            } else {
                                                for i in 0..<plane {
                                                    let d = out[i] - max(xp[i], 0)
                                                    local += d * d
                                                }
                                            }
                                        }
                                        if !frontier.pools.isEmpty {
                                            // Pooled, against the clean pooled plane.
                                            frontier.apply(&changed, &scratch)
                                            let pb = (sample * channels + channel) * frontier.plane
                                            changed.withUnsafeBufferPointer { buffer in
                                                let out = buffer.baseAddress!
                                                for i in 0..<frontier.plane {
                                                    let d = out[i] - pooled[pb + i]
                                                    if d == 0 { continue }
                                                    let gb = (pb + i) * laneCount * 32
                                                    for lane in 0..<laneCount { dots[lane] += gRaw.loadUnaligned(fromByteOffset: gb + lane * 32, as: SIMD8<Float>.self) * d }
                                                }
                                            }
                                            if changed.count < plane { changed = [Float](repeating: 0, count: plane) }
                                        }
                                        proxies[sample * count + ci] = kCount == 0
                                            ? Double(local) / Double(plane)
                                            : dots[0..<laneCount].reduce(0.0) { $0 + Double(($1 * $1).sum()) } * proxyScale
                                    }
                                }
                                slots[channel] = proxies
                            }
                        }
                    }
                }
                for channel in 0..<channels {
                    let entry = results[channel]
                    for offset in 0..<n {
                        let sample = chunk.lowerBound + offset
                        for ci in 0..<count {
                            let value = entry[offset * count + ci]
                            proxySum[index][channel * count + ci] += value
                            if sample < reruns { proxySample[index][(channel * count + ci) * reruns + sample] = value }
                        }
                    }
                }
                stageProgress.advance()
            }
        }
        engines = [:]

        // Stage 2: shortlists on the mean proxy.
        let shortlists = layers.indices.map { index in
            (0..<layers[index].layer.channels).map { channel in
                let count = layers[index].candidates.count
                return shortlist(layers[index], errors: Array(proxySum[index][(channel * count)..<((channel + 1) * count)]))
            }
        }

        // Stage 3: which channels are re-run, within the multiply-add budget. None of a layer
        // whose network after its frontier is linear when every output was projected: there
        // the first-order values are the exact ones.
        let exactFirstOrder = layers.indices.map { firstOrder && basis && linearAfter(frontiers[$0].value) }
        let suffix = layers.map { suffixMACs(from: $0.layer.output) }
        let fullCost = layers.indices.reduce(0.0) { total, index in
            total + Double(shortlists[index].reduce(0) { $0 + $1.count }) * Double(reruns) * suffix[index]
        }
        var selected: [[Int]]
        if fullCost <= fastRerunMACs {
            selected = layers.indices.map { exactFirstOrder[$0] ? [] : Array(0..<layers[$0].layer.channels) }
        } else {
            let perLayer = fastRerunMACs / Double(layers.count)
            selected = layers.indices.map { index in
                let channels = layers[index].layer.channels
                let average = Double(shortlists[index].reduce(0) { $0 + $1.count }) / Double(max(channels, 1))
                let affordable = Int(perLayer / max(1, average * Double(reruns) * suffix[index]))
                let count = exactFirstOrder[index] ? 0 : min(channels, max(2, affordable))
                return (0..<count).map { $0 * channels / count }
            }
        }
        // exact[layer][channel][candidate * reruns + sample]; empty where not re-run.
        var exact = layers.map { layer in [[Double]](repeating: [], count: layer.layer.channels) }
        for index in layers.indices {
            for channel in selected[index] { exact[index][channel] = [Double](repeating: 0, count: layers[index].candidates.count * reruns) }
        }
        // Re-runs of the shortlists of `selected` channels of `active` layers on `range`.
        func rerunPass(_ range: Range<Int>, active: [Int], title: String) throws -> Int {
            let chunks = stride(from: range.lowerBound, to: range.upperBound, by: chunkSize).map { $0..<min($0 + chunkSize, range.upperBound) }
            let perChunk = active.reduce(0) { total, index in total + selected[index].reduce(0) { $0 + shortlists[index][$1].count } }
            let progress = ProgressReporter(title, total: chunks.count * perChunk, enabled: showProgress)
            for chunk in chunks {
                let (engine, cached) = try cachedRun(chunk)
                let clean = engine.graph.outputs.map { cached[$0.index]!.floats }
                for index in active {
                    let layer = layers[index]
                    let x = cached[layer.layer.input.index]!
                    let xValues = x.floats
                    let chosen = selected[index]
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
                                    var perSample = [Double](repeating: 0, count: chunk.count)
                                    for (output, reference) in zip(outputs, clean) {
                                        let size = output.elementCount / chunk.count
                                        let a = output.floats
                                        for sample in 0..<chunk.count {
                                            var total = 0.0
                                            for element in (sample * size)..<((sample + 1) * size) {
                                                let d = Double(a[element]) - Double(reference[element])
                                                total += d * d
                                            }
                                            perSample[sample] += total / Double(max(size, 1))
                                        }
                                    }
                                    errors[candidate] = perSample
                                } catch {
                                    failure = error
                                }
                            }
                            slots[slot] = (errors, failure)
                            progress.advance(shortlists[index][channel].count)
                        }
                    }
                    for (slot, result) in results.enumerated() {
                        if let failure = result.failure { throw failure }
                        for (candidate, perSample) in result.errors {
                            for (offset, value) in perSample.enumerated() { exact[index][chosen[slot]][candidate * reruns + chunk.lowerBound + offset] = value }
                        }
                    }
                }
            }
            return chunks.count * perChunk
        }

        // First on half the samples; layers whose ratio estimates are still noisy (median
        // relative standard error above `fastTolerance`) then on the rest.
        let count = layers.map(\.candidates.count)
        let rerunLayers = layers.indices.filter { !selected[$0].isEmpty }
        let pilot = reruns == samples ? reruns : max(1, reruns / 2)
        var used = layers.map { _ in pilot }
        var runs = try rerunPass(0..<pilot, active: rerunLayers, title: "distortion (fast, re-runs of \(selected.reduce(0) { $0 + $1.count }) channels on \(pilot) samples)")
        if pilot < reruns {
            let noisy = rerunLayers.filter { index in
                var errors: [Double] = []
                for channel in selected[index] {
                    for candidate in shortlists[index][channel] {
                        let base = (channel * count[index] + candidate) * reruns
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
                return errors.isEmpty || errors[errors.count / 2] > fastTolerance
            }
            if !noisy.isEmpty {
                runs += try rerunPass(
                    pilot..<reruns, active: noisy,
                    title: "distortion (fast, re-runs of \(noisy.reduce(0) { $0 + selected[$1].count }) channels on \(reruns - pilot) more samples)")
                for index in noisy { used[index] = reruns }
            }
        }
        table.suffixRuns = runs

        // Stage 4: estimates.
        for index in layers.indices {
            let layer = layers[index]
            let relu = layer.candidates.firstIndex(of: .relu)
            let r = used[index]
            func exactTotal(_ channel: Int, _ candidate: Int) -> Double {
                exact[index][channel][(candidate * reruns)..<(candidate * reruns + r)].reduce(0, +)
            }
            func proxyTotal(_ channel: Int, _ candidate: Int) -> Double {
                let base = (channel * count[index] + candidate) * reruns
                return proxySample[index][base..<(base + r)].reduce(0, +)
            }
            // The layer's ratio of exact to proxy per candidate, pooled over the re-run channels.
            var exactTotals = [Double](repeating: 0, count: count[index]), proxyTotals = exactTotals
            for channel in selected[index] {
                for candidate in shortlists[index][channel] {
                    exactTotals[candidate] += exactTotal(channel, candidate)
                    proxyTotals[candidate] += proxyTotal(channel, candidate)
                }
            }
            let pooled = proxyTotals.reduce(0, +) > 0 ? exactTotals.reduce(0, +) / proxyTotals.reduce(0, +) : 1
            let layerRatio = layer.candidates.indices.map { proxyTotals[$0] > 0 ? exactTotals[$0] / proxyTotals[$0] : pooled }
            let rerun = Set(selected[index])
            for channel in 0..<layer.layer.channels {
                table.layers[index].distortion[channel] = layer.candidates.indices.map { candidate in
                    if candidate == relu { return 0 }
                    let meanProxy = proxySum[index][channel * count[index] + candidate] / Double(samples)
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

    /// Whether every op that depends on `value` is linear (affine) in it.
    func linearAfter(_ value: ValueID) -> Bool {
        var live: Set<ValueID> = [value]
        for node in graph.nodes where node.operands.contains(where: { live.contains($0) }) {
            live.insert(node.result)
            let liveOperands = node.operands.indices.filter { live.contains(node.operands[$0]) }
            switch node.op {
            case .conv, .dense, .batchNorm: if liveOperands != [0] { return false }
            case .add, .sub, .concat, .globalAvgPool, .avgPool, .reshape, .identity, .transpose, .slice, .pad: continue
            case .mul: if liveOperands.count != 1 { return false }
            case .div: if liveOperands != [0] { return false }
            default: return false
            }
        }
        return true
    }

    /// Multiply-adds per sample of the ops that depend on `value` (convolutions and dense
    /// layers at their MAC count, every other op at its result size).
    func suffixMACs(from value: ValueID) -> Double {
        var live: Set<ValueID> = [value]
        var total = 0.0
        for node in graph.nodes where node.operands.contains(where: { live.contains($0) }) {
            live.insert(node.result)
            let elements = Double(graph.type(of: node.result).elementCount)
            switch node.op {
            case .conv:
                let weight = graph.type(of: node.operands[1]).shape
                total += elements * Double(weight.dropFirst().reduce(1, *))
            case .dense:
                total += elements * Double(graph.type(of: node.operands[1]).shape[1])
            default:
                total += elements
            }
        }
        return total
    }

    func zeroRows(_ layer: DistortionTable.Layer) -> [[Double]] {
        Array(repeating: Array(repeating: 0.0, count: layer.candidates.count), count: layer.layer.channels)
    }
}

/// Where the first-order stage linearizes a layer: its output, or the result of the
/// pooling ops that are its only consumers (applied exactly to one channel's plane).
struct Frontier {
    var value: ValueID
    /// Pooling ops from the layer output to `value`, each as its windows: for output i, input
    /// indices offsets[starts[i]..<starts[i + 1]], and the average's divisor.
    var pools: [(max: Bool, offsets: [Int], starts: [Int], divisors: [Float])] = []
    /// Elements per channel plane of `value`.
    var plane: Int

    mutating func append(_ pool: Pool2D, max isMax: Bool, h: Int, w: Int, oh: Int, ow: Int) {
        var offsets: [Int] = [], starts = [0], divisors: [Float] = []
        for oy in 0..<oh {
            for ox in 0..<ow {
                // The engine's rule, on a plane of indices.
                let y0 = oy * pool.strides[0] - pool.pads[0], x0 = ox * pool.strides[1] - pool.pads[1]
                var paddedRows = 0, paddedColumns = 0
                for ky in 0..<pool.kernel[0] {
                    let y = y0 + ky * pool.dilations[0]
                    if y < h + pool.pads[2] { paddedRows = ky + 1 }
                    guard y >= 0 && y < h else { continue }
                    for kx in 0..<pool.kernel[1] {
                        let x = x0 + kx * pool.dilations[1]
                        if x >= 0 && x < w { offsets.append(y * w + x) }
                    }
                }
                for kx in 0..<pool.kernel[1] where x0 + kx * pool.dilations[1] < w + pool.pads[3] { paddedColumns = kx + 1 }
                let valid = offsets.count - starts.last!
                starts.append(offsets.count)
                divisors.append(Float(Swift.max(pool.countIncludePad ? paddedRows * paddedColumns : valid, 1)))
            }
        }
        pools.append((isMax, offsets, starts, divisors))
        plane = oh * ow
    }

    /// Runs the pools on one plane: `data` in, the result in `data` (`scratch` is reused).
    func apply(_ data: inout [Float], _ scratch: inout [Float]) {
        for step in pools {
            let count = step.divisors.count
            if scratch.count < Swift.max(count, data.count) { scratch = [Float](repeating: 0, count: Swift.max(count, data.count)) }
            for index in 0..<count {
                let range = step.starts[index]..<step.starts[index + 1]
                if step.max {
                    var best = -Float.infinity
                    for position in range { best = Swift.max(best, data[step.offsets[position]]) }
                    scratch[index] = best
                } else {
                    var sum: Float = 0
                    for position in range { sum += data[step.offsets[position]] }
                    scratch[index] = sum / step.divisors[index]
                }
            }
            swap(&data, &scratch)
        }
    }
}

/// Max or average pooling of one plane, with the engine's window and divisor rules.
func poolPlane(_ input: [Float], _ pool: Pool2D, max isMax: Bool, h: Int, w: Int, oh: Int, ow: Int) -> [Float] {
    var frontier = Frontier(value: ValueID(0), plane: h * w)
    frontier.append(pool, max: isMax, h: h, w: w, oh: oh, ow: ow)
    var data = input, scratch: [Float] = []
    frontier.apply(&data, &scratch)
    return Array(data.prefix(oh * ow))
}

extension DistortionMeasurement {
    func frontier(of layer: ReLULayer, firstOrder: Bool) -> Frontier {
        var result = Frontier(value: layer.output, plane: layer.height * layer.width)
        guard firstOrder else { return result }
        while true {
            let consumers = graph.nodes.filter { $0.operands.contains(result.value) }
            guard consumers.count == 1, !graph.outputs.contains(result.value), let node = consumers.first else { return result }
            let pool: Pool2D, isMax: Bool
            switch node.op {
            case .maxPool(let p): (pool, isMax) = (p, true)
            case .avgPool(let p): (pool, isMax) = (p, false)
            default: return result
            }
            let input = graph.type(of: result.value).shape, output = graph.type(of: node.result).shape
            guard input.count == 4, output.count == 4 else { return result }
            result.append(pool, max: isMax, h: input[2], w: input[3], oh: output[2], ow: output[3])
            result.value = node.result
        }
    }
}
