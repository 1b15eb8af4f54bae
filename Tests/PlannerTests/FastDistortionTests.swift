import FloatEngine
import Foundation
import IR
import TestSupport
import Testing

@testable import Planner

/// x[1,2,8,8] -> conv 2->4 3x3 -> relu (planned) -> POOL -> global pool -> dense 4->OUT:
/// everything after the ReLU layer (and its pooling) is linear, so the first-order stage of
/// `fast` is exact there and so are its estimates, re-run or calibrated per layer.
func linearSuffixNetwork(pool: String, pooledSide: Int, outputs: Int, seed: UInt64) throws -> Graph {
    var generator = SeededGenerator(state: seed)
    func values(_ count: Int) -> String { (0..<count).map { _ in "\(Float.random(in: -1...1, using: &generator))" }.joined(separator: ", ") }
    let poolLine = pool.isEmpty ? "%p = identity(%r) : f32[1,4,8,8]" : "%p = \(pool)(%r) \(poolAttributes) : f32[1,4,\(pooledSide),\(pooledSide)]"
    return try Parser().parse(
        """
        graph @linear(%x: f32[1,2,8,8]) -> (%y: f32[1,\(outputs)]) {
          %w = constant f32[4,2,3,3] [\(values(72))]
          %b = constant f32[4] [0.1, -0.2, 0.05, 0.0]
          %c = conv(%x, %w, %b) {strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1} : f32[1,4,8,8]
          %r = relu(%c) : f32[1,4,8,8]
          \(poolLine)
          %g = global_avg_pool(%p) : f32[1,4,1,1]
          %f = reshape(%g) {shape=[1,4]} : f32[1,4]
          %fc = constant f32[\(outputs),4] [\(values(outputs * 4))]
          %y = dense(%f, %fc) : f32[1,\(outputs)]
          return %y
        }
        """)
}

let poolAttributes = "{kernel=[3,3], strides=[2,2], pads=[1,1,1,1], dilations=[1,1], ceil_mode=false}"

@Suite struct FastDistortionTests {
    /// With a linear suffix (after the pooling `fast` follows exactly) and at most 16
    /// outputs (one backward pass per output), the first-order values are the exact ones:
    /// `fast` re-runs nothing and matches `exact` on every candidate.
    @Test(arguments: [("", 8), ("max_pool", 4), ("avg_pool", 4)])
    func linearSuffixGivesExactValues(_ pooling: (String, Int)) throws {
        let graph = try linearSuffixNetwork(pool: pooling.0, pooledSide: pooling.1, outputs: 3, seed: 11).replacingAvgPoolAttributes()
        let inputs = randomInputs(48, shape: [1, 2, 8, 8], seed: 12)
        let measurement = DistortionMeasurement(graph: graph, calibration: inputs, chunkSize: 16, fastSamples: 8, showProgress: false)
        let exact = try measurement.measure(.exact), fast = try measurement.measure(.fast)
        let (e, f) = (exact.layers[0], fast.layers[0])
        for channel in 0..<4 {
            for candidate in e.candidates.indices {
                let (a, b) = (e.distortion[channel][candidate], f.distortion[channel][candidate])
                #expect(abs(a - b) <= 1e-7 + 1e-4 * a, "pool '\(pooling.0)' channel \(channel) \(e.candidates[candidate]): exact \(a) fast \(b)")
            }
        }
        #expect(fast.suffixRuns == 0)
    }

    /// Random projections (more than 16 outputs) estimate the same quantity; the ratio
    /// estimator on 16 re-run samples, and the per-layer calibration of channels that are
    /// not re-run (no re-run budget: two channels re-run), stay close to `exact`.
    @Test(arguments: [1e30, 0])
    func randomProjectionsEstimateTheNorm(_ rerunMACs: Double) throws {
        let graph = try linearSuffixNetwork(pool: "", pooledSide: 8, outputs: 40, seed: 21)
        let inputs = randomInputs(64, shape: [1, 2, 8, 8], seed: 22)
        var measurement = DistortionMeasurement(graph: graph, calibration: inputs, chunkSize: 16, fastSamples: 16, showProgress: false)
        measurement.fastProjections = 32
        measurement.fastRerunMACs = rerunMACs
        let exact = try measurement.measure(.exact), fast = try measurement.measure(.fast)
        var compared = 0
        for channel in 0..<4 {
            for candidate in exact.layers[0].candidates.indices where fast.layers[0].distortion[channel][candidate].isFinite {
                let (a, b) = (exact.layers[0].distortion[channel][candidate], fast.layers[0].distortion[channel][candidate])
                #expect(abs(a - b) <= 1e-9 + 0.25 * a, "channel \(channel) \(exact.layers[0].candidates[candidate]): exact \(a) fast \(b)")
                compared += 1
            }
        }
        #expect(fast.suffixRuns > 0)
        // Calibrated channels get every candidate.
        if rerunMACs == 0 { #expect(compared >= 2 * exact.layers[0].candidates.count) }
    }

    /// A nonlinear suffix (ReLU, max pool): `fast` is an estimate, close to `exact` for what it re-runs.
    @Test func nonlinearSuffixStaysClose() throws {
        let graph = try Parser().parse(
            """
            graph @g(%x: f32[1,2,8,8]) -> (%y: f32[1,3]) {
              %w = constant f32[3,2,3,3] [0.5, -0.2, 0.1, 0.3, 0.9, -0.4, 0.2, 0.1, -0.3, -0.6, 0.2, 0.4, 0.1, -0.5, 0.3, 0.7, 0.2, -0.1, 0.3, 0.8, -0.2, -0.4, 0.1, 0.6, 0.5, -0.3, 0.2, 0.1, 0.4, -0.7, 0.2, 0.3, -0.1, 0.6, -0.2, 0.5, 0.2, 0.1, -0.3, 0.4, 0.6, -0.2, 0.3, 0.1, 0.2, -0.4, 0.5, 0.1, 0.3, -0.2, 0.6, 0.1, -0.1, 0.2]
              %c = conv(%x, %w) {strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1} : f32[1,3,8,8]
              %r = relu(%c) : f32[1,3,8,8]
              %w2 = constant f32[3,3,1,1] [0.8, -0.5, 0.3, 0.2, 0.9, -0.4, -0.3, 0.4, 0.7]
              %c2 = conv(%r, %w2) {strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1} : f32[1,3,8,8]
              %r2 = relu(%c2) : f32[1,3,8,8]
              %m = max_pool(%r2) {kernel=[2,2], strides=[2,2], pads=[0,0,0,0], dilations=[1,1], ceil_mode=false} : f32[1,3,4,4]
              %g = global_avg_pool(%m) : f32[1,3,1,1]
              %f = reshape(%g) {shape=[1,3]} : f32[1,3]
              %fc = constant f32[3,3] [1.0, -0.5, 0.25, 2.0, -1.5, 0.75, 0.5, 0.5, -1.0]
              %y = dense(%f, %fc) : f32[1,3]
              return %y
            }
            """)
        let inputs = randomInputs(96, shape: [1, 2, 8, 8], seed: 31)
        var measurement = DistortionMeasurement(graph: graph, calibration: inputs, chunkSize: 32, fastSamples: 96, showProgress: false)
        let exact = try measurement.measure(.exact)
        // Re-run on every sample, the shortlist gets exact's values.
        let everySample = try measurement.measure(.fast)
        for (e, f) in zip(exact.layers, everySample.layers) {
            for channel in 0..<e.layer.channels {
                for candidate in e.candidates.indices where f.distortion[channel][candidate].isFinite {
                    #expect(abs(f.distortion[channel][candidate] - e.distortion[channel][candidate]) <= 1e-9 + 1e-4 * e.distortion[channel][candidate])
                }
            }
        }
        measurement.fastSamples = 32
        let fast = try measurement.measure(.fast)
        var logErrors: [Double] = []
        for (e, f) in zip(exact.layers, fast.layers) {
            for channel in 0..<e.layer.channels {
                #expect(f.distortion[channel][e.candidates.firstIndex(of: .identity)!].isFinite, "identity is always measured")
                for candidate in e.candidates.indices where f.distortion[channel][candidate].isFinite && e.distortion[channel][candidate] > 1e-9 {
                    logErrors.append(abs(log(f.distortion[channel][candidate] / e.distortion[channel][candidate])))
                }
            }
        }
        logErrors.sort()
        #expect(logErrors.count >= 6)
        #expect(logErrors[logErrors.count / 2] < 0.15, "median |log(fast / exact)| \(logErrors[logErrors.count / 2])")
    }

    /// One plane through the planner's pooling matches the engine's pooling.
    @Test(arguments: [true, false], [false, true])
    func poolPlaneMatchesTheEngine(_ isMax: Bool, _ countIncludePad: Bool) throws {
        var generator = SeededGenerator(state: 5)
        for (h, w, pool) in [
            (7, 6, Pool2D(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], dilations: [1, 1], ceilMode: false, countIncludePad: countIncludePad)),
            (8, 8, Pool2D(kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], ceilMode: false, countIncludePad: countIncludePad)),
            (9, 5, Pool2D(kernel: [3, 2], strides: [2, 1], pads: [0, 1, 2, 0], dilations: [2, 1], ceilMode: true, countIncludePad: countIncludePad)),
        ] {
            let op: Op = isMax ? .maxPool(pool) : .avgPool(pool)
            let type = try op.resultType(operands: [TensorType(.f32, [1, 1, h, w])])
            let input = (0..<(h * w)).map { _ in Float.random(in: -1...1, using: &generator) }
            let reference = try FloatEngine.evaluate(op, [Tensor(shape: [1, 1, h, w], floats: input)], resultType: type).floats
            let mine = poolPlane(input, pool, max: isMax, h: h, w: w, oh: type.shape[2], ow: type.shape[3])
            #expect(zip(reference, mine).allSatisfy { abs($0 - $1) < 1e-6 }, "\(h)x\(w) \(pool)")
        }
    }
}

extension Graph {
    /// The avg_pool in `linearSuffixNetwork` counts padding (the engine's default is not to).
    func replacingAvgPoolAttributes() -> Graph {
        var graph = self
        for index in graph.nodes.indices {
            if case .avgPool(var pool) = graph.nodes[index].op {
                pool.countIncludePad = true
                graph.nodes[index].op = .avgPool(pool)
            }
        }
        return graph
    }
}

@Suite struct FastDistortionFallbackTests {
    /// No backward rule for `resize`: the channel's own squared change is the proxy, and
    /// re-run on every sample the shortlist still gets exact's values.
    @Test func withoutBackwardRulesLocalErrorsStandIn() throws {
        let graph = try Parser().parse(
            """
            graph @g(%x: f32[1,2,4,4]) -> (%y: f32[1,3]) {
              %w = constant f32[2,2,3,3] [0.5, -0.2, 0.1, 0.3, 0.9, -0.4, 0.2, 0.1, -0.3, -0.6, 0.2, 0.4, 0.1, -0.5, 0.3, 0.7, 0.2, -0.1, 0.3, 0.8, -0.2, -0.4, 0.1, 0.6, 0.5, -0.3, 0.2, 0.1, 0.4, -0.7, 0.2, 0.3, -0.1, 0.6, -0.2, 0.5]
              %c = conv(%x, %w) {strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1} : f32[1,2,4,4]
              %r = relu(%c) : f32[1,2,4,4]
              %u = resize(%r) {mode=nearest, coordinates=asymmetric, nearest=floor, scales=[1.0,1.0,2.0,2.0]} : f32[1,2,8,8]
              %q = relu(%u) : f32[1,2,8,8]
              %p = global_avg_pool(%q) : f32[1,2,1,1]
              %f = reshape(%p) {shape=[1,2]} : f32[1,2]
              %fc = constant f32[3,2] [1.0, -0.5, 0.25, 2.0, -1.5, 0.75]
              %y = dense(%f, %fc) : f32[1,3]
              return %y
            }
            """)
        let inputs = randomInputs(20, shape: [1, 2, 4, 4], seed: 8)
        let measurement = DistortionMeasurement(graph: graph, calibration: inputs, chunkSize: 8, fastSamples: 20, showProgress: false)
        let exact = try measurement.measure(.exact), fast = try measurement.measure(.fast)
        for (e, f) in zip(exact.layers, fast.layers) {
            for channel in 0..<e.layer.channels {
                #expect(f.distortion[channel][e.candidates.firstIndex(of: .identity)!].isFinite)
                for candidate in e.candidates.indices where f.distortion[channel][candidate].isFinite {
                    #expect(abs(f.distortion[channel][candidate] - e.distortion[channel][candidate]) <= 1e-9 + 1e-4 * e.distortion[channel][candidate])
                }
            }
        }
    }
}
