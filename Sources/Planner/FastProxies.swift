import FloatEngine
import IR

// Stage 1 of the fast estimator: proxies on every sample. A layer whose output feeds only
// pooling (max pooling after ReLUs is where first order fails most) is followed exactly
// through it, one channel at a time, and linearized after it.
extension FastEstimator {
    var proxyTitle: String {
        projections.firstOrder
            ? "distortion (fast, first order, \(projections.count) \(projections.basis ? "outputs" : "projections"))"
            : "distortion (fast, local errors\(unsupported.map { "; no backward through \($0)" } ?? ""))"
    }

    mutating func measureProxies() throws {
        let layerElements = layers.reduce(0) { $0 + $1.layer.channels * $1.layer.height * $1.layer.width }
        let gradientBudget = 1 << 26  // floats of gradients held at once (256 MB)
        let chunkSize = max(1, min(measurement.chunkSize, gradientBudget / max(1, layerElements * max(projections.paddedCount, 1))))
        let chunks = stride(from: 0, to: samples, by: chunkSize).map { $0..<min($0 + chunkSize, samples) }
        let progress = ProgressReporter(proxyTitle, total: chunks.count * layers.count, enabled: measurement.showProgress)
        var engines: [Int: FloatEngine] = [:]
        for chunk in chunks {
            let engine = try engines[chunk.count] ?? FloatEngine(graph: try measurement.graph.rebatched(chunk.count), fuseActivations: false)
            engines[chunk.count] = engine
            let cached = try engine.runKeepingValues([measurement.calibrationRows(chunk)])
            let gradients = try projectedGradients(engine, cached, chunk)
            for index in layers.indices {
                add(channelProxies(index, cached, gradients[index], samples: chunk.count), layer: index, chunk: chunk)
                progress.advance()
            }
        }
    }

    /// Per layer, the gradients of the projected outputs at the layer's frontier for the
    /// samples of `chunk`: [n][C][plane][K], the projections innermost (empty without
    /// first order).
    func projectedGradients(_ engine: FloatEngine, _ cached: [Tensor?], _ chunk: Range<Int>) throws -> [[Float]] {
        let kStride = projections.paddedCount
        var gradients = frontiers.enumerated().map { index, frontier in
            [Float](repeating: 0, count: projections.firstOrder ? chunk.count * layers[index].layer.channels * frontier.plane * kStride : 0)
        }
        for k in 0..<projections.count {
            let vectors = chunk.map { projections.vectors(k, sample: $0) }
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
        return gradients
    }

    /// The proxies of layer `index` on a chunk of `n` samples:
    /// [channel][sample * candidates + candidate], channels in parallel.
    func channelProxies(_ index: Int, _ cached: [Tensor?], _ gradients: [Float], samples n: Int) -> [[Double]] {
        let layer = layers[index]
        let frontier = frontiers[index]
        let x = cached[layer.layer.input.index]!.floats
        let pooled = frontier.pools.isEmpty ? [] : cached[frontier.value.index]!.floats
        var results = [[Double]](repeating: [], count: layer.layer.channels)
        results.withUnsafeMutableBufferPointer { slots in
            x.withUnsafeBufferPointer { xs in
                gradients.withUnsafeBufferPointer { gs in
                    let kernel = ProxyKernel(
                        layer: layer, frontier: frontier, projections: projections, pooled: pooled,
                        gradients: UnsafeRawPointer(gs.baseAddress ?? UnsafePointer<Float>(bitPattern: 64)!))
                    parallelFor(layer.layer.channels) { channel in
                        slots[channel] = kernel.proxies(channel: channel, samples: n, input: xs.baseAddress!)
                    }
                }
            }
        }
        return results
    }

    /// Adds one chunk's proxies of layer `index` to the sums and keeps the re-run samples'.
    mutating func add(_ results: [[Double]], layer index: Int, chunk: Range<Int>) {
        let count = layers[index].candidates.count
        for (channel, entry) in results.enumerated() {
            for offset in 0..<chunk.count {
                let sample = chunk.lowerBound + offset
                for ci in 0..<count {
                    let value = entry[offset * count + ci]
                    proxySum[index][channel * count + ci] += value
                    if sample < reruns { proxySample[index][(channel * count + ci) * reruns + sample] = value }
                }
            }
        }
    }
}

/// Stage 1's inner loop for one layer: every candidate's proxy for one channel.
struct ProxyKernel {
    let candidates: [BlockSize]
    let frontier: Frontier
    let channels: Int
    let height: Int
    let width: Int
    let projectionCount: Int
    let lanes: Int
    let scale: Double
    /// The layer's pooled outputs, [n][C][frontier plane], when the frontier has pools.
    let pooled: [Float]
    /// The projected gradients at the frontier, SIMD8 lanes of projections per element.
    let gradients: UnsafeRawPointer

    init(layer: DistortionTable.Layer, frontier: Frontier, projections: OutputProjections, pooled: [Float], gradients: UnsafeRawPointer) {
        candidates = layer.candidates
        self.frontier = frontier
        (channels, height, width) = (layer.layer.channels, layer.layer.height, layer.layer.width)
        projectionCount = projections.count
        lanes = projections.lanes
        scale = projections.scale
        self.pooled = pooled
        self.gradients = gradients
    }

    /// proxies[sample * candidates + candidate] of `channel` on samples 0..<n of `input`
    /// ([n][C][H][W]); 0 for the ReLU itself.
    func proxies(channel: Int, samples n: Int, input: UnsafePointer<Float>) -> [Double] {
        let plane = height * width
        let count = candidates.count
        var proxies = [Double](repeating: 0, count: n * count)
        let dots = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: max(lanes, 1))
        defer { dots.deallocate() }
        var changed = [Float](repeating: 0, count: plane)
        var scratch: [Float] = []
        for sample in 0..<n {
            let first = (sample * channels + channel) * plane
            let x = input + first
            for (ci, block) in candidates.enumerated() where block != .relu {
                dots.update(repeating: .zero, count: lanes)
                // This channel's plane under `block`, and its change against the ReLU.
                let local = changed.withUnsafeMutableBufferPointer { buffer in
                    block.maskPlane(deciding: x, source: x, into: buffer.baseAddress!, height: height, width: width)
                    return localError(buffer.baseAddress!, x, first: first, dots)
                }
                if !frontier.pools.isEmpty {
                    // Pooled, against the clean pooled plane.
                    frontier.apply(&changed, &scratch)
                    pooledDots(changed, first: (sample * channels + channel) * frontier.plane, dots)
                    if changed.count < plane { changed = [Float](repeating: 0, count: plane) }
                }
                var projected = 0.0
                for lane in 0..<lanes { projected += Double((dots[lane] * dots[lane]).sum()) }
                proxies[sample * count + ci] = projectionCount == 0 ? Double(local) / Double(plane) : projected * scale
            }
        }
        return proxies
    }

    /// The squared change of the plane `out` against ReLU of `x`; without pooling, also
    /// the change's projections into `dots` (`first`: the plane's first element).
    func localError(_ out: UnsafePointer<Float>, _ x: UnsafePointer<Float>, first: Int, _ dots: UnsafeMutablePointer<SIMD8<Float>>) -> Float {
        var local: Float = 0
        if frontier.pools.isEmpty {
            for i in 0..<(height * width) {
                let d = out[i] - max(x[i], 0)
                if d == 0 { continue }
                local += d * d
                project(d, at: first + i, into: dots)
            }
        } else {
            for i in 0..<(height * width) {
                let d = out[i] - max(x[i], 0)
                local += d * d
            }
        }
        return local
    }

    /// The projections of the pooled plane's change against the clean pooled plane.
    func pooledDots(_ changed: [Float], first: Int, _ dots: UnsafeMutablePointer<SIMD8<Float>>) {
        changed.withUnsafeBufferPointer { buffer in
            let out = buffer.baseAddress!
            for i in 0..<frontier.plane {
                let d = out[i] - pooled[first + i]
                if d == 0 { continue }
                project(d, at: first + i, into: dots)
            }
        }
    }

    @inline(__always)
    func project(_ d: Float, at element: Int, into dots: UnsafeMutablePointer<SIMD8<Float>>) {
        let offset = element * lanes * 32
        for lane in 0..<lanes { dots[lane] += gradients.loadUnaligned(fromByteOffset: offset + lane * 32, as: SIMD8<Float>.self) * d }
    }
}
