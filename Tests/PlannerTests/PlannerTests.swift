import FloatEngine
import Foundation
import IR
import TestSupport
import Testing

@testable import Planner

/// x[1,2,4,4] -> conv 2->2 3x3 -> relu -> global pool -> reshape -> dense 2->3.
func tinyNetwork() throws -> Graph {
    try Parser().parse(
        """
        graph @tiny(%x: f32[1,2,4,4]) -> (%y: f32[1,3]) {
          %w = constant f32[2,2,3,3] [0.5, -0.2, 0.1, 0.3, 0.9, -0.4, 0.2, 0.1, -0.3, -0.6, 0.2, 0.4, 0.1, -0.5, 0.3, 0.7, 0.2, -0.1, 0.3, 0.8, -0.2, -0.4, 0.1, 0.6, 0.5, -0.3, 0.2, 0.1, 0.4, -0.7, 0.2, 0.3, -0.1, 0.6, -0.2, 0.5]
          %b = constant f32[2] [0.1, -0.2]
          %c = conv(%x, %w, %b) {strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1} : f32[1,2,4,4]
          %r = relu(%c) : f32[1,2,4,4]
          %p = global_avg_pool(%r) : f32[1,2,1,1]
          %f = reshape(%p) {shape=[1,2]} : f32[1,2]
          %fc = constant f32[3,2] [1.0, -0.5, 0.25, 2.0, -1.5, 0.75]
          %y = dense(%f, %fc) : f32[1,3]
          return %y
        }
        """)
}

func randomInputs(_ count: Int, shape: [Int], seed: UInt64) -> Tensor {
    var generator = SeededGenerator(state: seed)
    let total = count * shape.dropFirst().reduce(1, *)
    return Tensor(shape: [count] + shape.dropFirst(), floats: (0..<total).map { _ in Float.random(in: -1...1, using: &generator) })
}

@Suite struct CandidateTests {
    @Test(arguments: [(7, 7, 50), (14, 14, 197), (28, 28, 362), (56, 56, 485), (112, 112, 626), (1, 1, 2), (23, 37, 18 * 20 + 1)])
    func generatedFromTheMapSize(_ height: Int, _ width: Int, _ expected: Int) {
        let candidates = BlockCandidates.forMap(height: height, width: width)
        #expect(candidates.count == expected, "\(height)x\(width): \(candidates.count) candidates")
        #expect(candidates.first == .relu && candidates.last == .identity)
        #expect(Set(candidates).count == candidates.count, "duplicates")
        for block in candidates where block.isPatch { #expect(block.height <= height && block.width <= width) }
        // Every shape with sides up to 16 (all costs of small maps, each partition of them).
        for h in 1...min(16, height) {
            for w in 1...min(16, width) { #expect(candidates.contains(BlockSize(h, w)), "\(h)x\(w) missing") }
        }
        // The whole map (one DReLU per channel) is always a choice.
        #expect(candidates.contains { $0.drelus(height: height, width: width) == 1 })
    }
}

@Suite struct DistortionTests {
    /// The table's value for one (channel, candidate) is the definition computed directly:
    /// the mean over samples of the mean squared output change when only that channel
    /// uses that block size.
    @Test func exactDistortionMatchesADirectComputation() throws {
        let graph = try tinyNetwork()
        let inputs = randomInputs(40, shape: [1, 2, 4, 4], seed: 3)
        let table = try DistortionMeasurement(graph: graph, calibration: inputs, chunkSize: 16, showProgress: false).measure(.exact)
        let layer = try #require(table.layers.first)
        #expect(layer.layer.channels == 2)
        let reference = try FloatEngine(graph: graph).runBatch(inputs)[0]
        for channel in 0..<2 {
            for (index, block) in layer.candidates.enumerated() where [BlockSize(2, 2), .identity, BlockSize(4, 4), BlockSize(1, 3)].contains(block) {
                var changed = graph
                var blocks = [BlockSize.relu, .relu]
                blocks[channel] = block
                try BlockPlan(layers: ["r": blocks]).apply(to: &changed)
                let output = try FloatEngine(graph: changed).runBatch(inputs)[0]
                let direct = zip(output.floats, reference.floats).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(output.elementCount)
                let measured = layer.distortion[channel][index]
                #expect(abs(measured - direct) <= 1e-6 + 1e-4 * direct, "channel \(channel) block \(block): \(measured) vs \(direct)")
            }
            #expect(layer.distortion[channel][layer.candidates.firstIndex(of: .relu)!] == 0)
        }
    }

    @Test func fastIsExactWhereTheSuffixIsLinear() throws {
        // relu -> global pool -> dense: first order is exact, so fast needs no re-runs and
        // gives every candidate exact's value (FastDistortionTests covers the rest).
        let graph = try tinyNetwork()
        let inputs = randomInputs(24, shape: [1, 2, 4, 4], seed: 5)
        let measurement = DistortionMeasurement(graph: graph, calibration: inputs, chunkSize: 8, showProgress: false)
        let exact = try measurement.measure(.exact), fast = try measurement.measure(.fast)
        for channel in 0..<2 {
            for (a, b) in zip(exact.layers[0].distortion[channel], fast.layers[0].distortion[channel]) {
                #expect(abs(a - b) <= 1e-9 + 1e-4 * a, "channel \(channel): exact \(a) fast \(b)")
            }
        }
        #expect(fast.suffixRuns == 0 && exact.suffixRuns > 0)
        let groups = fast.knapsackGroups()
        #expect(groups.groups.count == 2 && groups.groups.allSatisfy { $0.allSatisfy { $0.distortion.isFinite } })
    }

    @Test func shortlistIsTheLowerHullOfLocalError() throws {
        let measurement = DistortionMeasurement(graph: try tinyNetwork(), calibration: randomInputs(1, shape: [1, 2, 4, 4], seed: 1))
        let layer = DistortionTable.Layer(
            layer: ReLULayer.all(in: try tinyNetwork())[0], candidates: [.relu, BlockSize(1, 2), BlockSize(2, 2), BlockSize(2, 4), .identity],
            costs: [16, 8, 4, 2, 0], distortion: [])
        // Costs 0, 2, 4, 8, 16 with errors 10, 4, 3.5, 1, 0: (4, 3.5) lies above the hull.
        let list = measurement.shortlist(layer, errors: [0, 1, 3.5, 4, 10])
        #expect(list == [4, 3, 1])
    }

    @Test func rebatchedGraphComputesTheSameAsPerSampleRuns() throws {
        let graph = try tinyNetwork()
        let inputs = randomInputs(5, shape: [1, 2, 4, 4], seed: 9)
        let batched = try FloatEngine(graph: try graph.rebatched(5)).run([inputs])[0]
        let looped = try FloatEngine(graph: graph).runBatch(inputs)[0]
        #expect(batched.shape == [5, 3])
        #expect(zip(batched.floats, looped.floats).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func rerunEqualsAFullRunOfTheChangedGraph() throws {
        let graph = try tinyNetwork()
        let engine = try FloatEngine(graph: graph, fuseActivations: false)
        let input = randomInputs(1, shape: [1, 2, 4, 4], seed: 2)
        let cached = try engine.runKeepingValues([input])
        let layer = ReLULayer.all(in: graph)[0]
        let x = cached[layer.input.index]!
        let changed = replacingChannel(cached[layer.output.index]!, channel: 1, with: blockPlanes(x.floats, shape: x.shape, channel: 1, block: .identity))
        let rerun = try engine.rerun(cached, replacing: layer.output, with: changed)[0]
        var planned = graph
        try BlockPlan(layers: ["r": [.relu, .identity]]).apply(to: &planned)
        let full = try FloatEngine(graph: planned).run([input])[0]
        #expect(zip(rerun.floats, full.floats).allSatisfy { abs($0 - $1) < 1e-6 })
    }
}

@Suite struct PlanFileTests {
    @Test func roundTripsThroughJSON() throws {
        let plan = BlockPlan(layers: ["a": [BlockSize(2, 3), .identity, .zero], "b/c": [.relu]], modelDReLUs: 100, planDReLUs: 7, notes: ["budget": "7"])
        let parsed = try BlockPlan.parse(Data(try plan.json().utf8))
        #expect(parsed == plan)
        #expect(try plan.json().contains("\"format\":\"mpcc-block-plan\""))
    }

    @Test func readersNeedOnlyLayers() throws {
        let plan = try BlockPlan.parse(Data(#"{"layers": {"r": [[1, 1], [0, 1]]}, "extra": 5}"#.utf8))
        #expect(plan.layers == ["r": [.relu, .identity]])
    }

    @Test(arguments: [
        "", "[]", "{}", #"{"layers": {"r": [[1]]}}"#, #"{"layers": {"r": [[0, 0]]}}"#, #"{"layers": {"r": [[-1, 2]]}}"#,
        #"{"format": "other", "layers": {}}"#, #"{"version": 2, "layers": {}}"#, #"{"layers": {"r": "2x2"}}"#,
    ])
    func rejectsMalformedPlans(_ text: String) {
        #expect(throws: PlanError.self) { try BlockPlan.parse(Data(text.utf8)) }
    }

    @Test func applyingAPlanThatDoesNotFitFailsClearly() throws {
        var graph = try tinyNetwork()
        let wrongLayer = try #require(throws: PlanError.self) { try BlockPlan(layers: ["nope": [.relu, .relu]]).apply(to: &graph) }
        #expect(wrongLayer.message.contains("'nope'") && wrongLayer.message.contains("r"))
        let wrongCount = try #require(throws: PlanError.self) { try BlockPlan(layers: ["r": [.relu]]).apply(to: &graph) }
        #expect(wrongCount.message.contains("2 channels"))
        try BlockPlan(layers: ["r": [BlockSize(2, 2), .identity]]).apply(to: &graph)
        #expect(BlockPlan.of(graph).layers["r"] == [BlockSize(2, 2), .identity])
        #expect(BlockPlan.of(graph).planDReLUs == 4)
    }
}

@Suite struct PlannerTests {
    @Test(arguments: [0, 1, 5, 12, 32])
    func plansFitTheBudget(_ budget: Int) throws {
        let graph = try tinyNetwork()
        let inputs = randomInputs(16, shape: [1, 2, 4, 4], seed: 4)
        let result = try BlockReLUPlanner.plan(graph: graph, calibration: inputs, budget: budget, method: .exact, showProgress: false)
        #expect(result.plan.planDReLUs <= budget)
        #expect(result.plan.modelDReLUs == 32)
        #expect(result.distortion >= result.lowerBound - 1e-12)
        if budget >= 32 { #expect(result.plan.layers["r"] == [.relu, .relu]) }
        var planned = graph
        try result.plan.apply(to: &planned)
        #expect(BlockPlan.of(planned).planDReLUs == result.plan.planDReLUs)
    }

    /// The interaction refinement keeps the plan whose distortion, measured by applying
    /// it whole, is lowest (never worse than the first solve's), within the budget; the
    /// measured and additive figures are the definitions computed directly.
    @Test(arguments: [3, 6, 10])
    func refinementMeasuresWholePlans(_ budget: Int) throws {
        let graph = try tinyNetwork()
        let inputs = randomInputs(24, shape: [1, 2, 4, 4], seed: 8)
        let result = try BlockReLUPlanner.plan(graph: graph, calibration: inputs, budget: budget, method: .exact, showProgress: false)
        let refinement = try #require(result.refinement)
        let table = try #require(result.table)
        #expect(result.plan.planDReLUs <= budget)
        let measure = try PlanRefinement(graph: graph, calibration: inputs, rows: 24)
        let first = table.blocks(for: try KnapsackSolver.fast(table.knapsackGroups().groups, budget: budget).solution.choices)
        #expect(abs(try measure.measured(result.plan.layers) - refinement.measured) <= 1e-9 * max(1, refinement.measured))
        #expect(refinement.measured <= (try measure.measured(first)) + 1e-12)
        #expect(abs(PlanRefinement.additive(result.plan.layers, table).reduce(0, +) - refinement.additive) <= 1e-12)
        // The definition: mean over samples of the mean squared output change.
        var planned = graph
        try result.plan.apply(to: &planned)
        let a = try FloatEngine(graph: planned).runBatch(inputs)[0].floats, b = try FloatEngine(graph: graph).runBatch(inputs)[0].floats
        let direct = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / 3 / 24
        #expect(abs(direct - refinement.measured) <= 1e-6 * max(1, direct))
    }
}
