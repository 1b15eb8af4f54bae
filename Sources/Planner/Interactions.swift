import FloatEngine
import IR

/// Channel interactions beyond the additive model (README, Method). The knapsack adds
/// per-channel distortions as if channels did not interact; at small budgets the plan's
/// real distortion is several times that sum, and unevenly so across layers. After a
/// solve, the plan is applied and measured as a whole, and each layer's share as what
/// reverting that layer to ReLUs saves with the rest of the plan in place (its marginal
/// distortion). Scaling the layer's table entries by marginal / additive and solving
/// again moves DReLUs to where they matter jointly; the plan with the lowest measured
/// distortion is kept.
struct PlanRefinement {
    let graph: Graph
    let inputs: Tensor
    let samples: Int
    /// The unplanned network's outputs on `inputs`.
    let reference: [Tensor]

    /// Measures on at most `rows` calibration samples (whole-network passes are the cost).
    init(graph: Graph, calibration: Tensor, rows: Int) throws {
        self.graph = graph
        samples = min(calibration.shape.first ?? 0, rows)
        let perSample = calibration.elementCount / max(calibration.shape.first ?? 1, 1)
        inputs = Tensor(shape: [samples] + calibration.shape.dropFirst(), floats: Array(calibration.floats.prefix(samples * perSample)))
        reference = try FloatEngine(graph: graph).runBatch(inputs)
    }

    /// The mean squared output change of `blocks` (the table's unit), all layers at once.
    func measured(_ blocks: [String: [BlockSize]]) throws -> Double {
        var planned = graph
        try BlockPlan(layers: blocks, modelDReLUs: 0, planDReLUs: 0).apply(to: &planned)
        let outputs = try FloatEngine(graph: planned).runBatch(inputs)
        return zip(outputs, reference).reduce(0) { $0 + squaredError($1.0, $1.1, samples: samples) } / Double(max(samples, 1))
    }

    /// Per layer: the plan's measured distortion minus that of the plan with the layer
    /// back at ReLUs.
    func marginals(_ blocks: [String: [BlockSize]], total: Double, layers: [DistortionTable.Layer]) throws -> [Double] {
        try layers.map { entry in
            var without = blocks
            without[entry.layer.name] = Array(repeating: .relu, count: entry.layer.channels)
            return max(0, total - (try measured(without)))
        }
    }

    /// The additive prediction of `blocks` per layer (the table's sum over channels).
    static func additive(_ blocks: [String: [BlockSize]], _ table: DistortionTable) -> [Double] {
        table.layers.map { entry in
            let chosen = blocks[entry.layer.name] ?? []
            return chosen.enumerated().reduce(0) { total, item in
                guard let candidate = entry.candidates.firstIndex(of: item.element), entry.distortion[item.offset][candidate].isFinite else { return total }
                return total + entry.distortion[item.offset][candidate]
            }
        }
    }
}

extension BlockReLUPlanner {
    /// What refining a plan measured: the final plan's distortion measured as a whole and
    /// as the table adds it, and how many solves it took.
    public struct Refinement: Sendable {
        public var measured: Double
        public var additive: Double
        public var solves: Int
    }

    /// Re-solves with per-layer corrections until the measured distortion stops falling
    /// (at most `rounds` more solves); returns the best plan's blocks.
    static func refine(_ table: DistortionTable, budget: Int, graph: Graph, calibration: Tensor, rounds: Int = 4,
                       first: [String: [BlockSize]]) throws -> (blocks: [String: [BlockSize]], refinement: Refinement) {
        // Whole-network passes: (layers + 1) per solve. Up to 256 samples while they stay
        // within about 2e11 multiply-adds in all (at least 16).
        let passes = Double((table.layers.count + 1) * (rounds + 1))
        let perSample = max(graph.suffixMACs(from: graph.inputs[0]), 1)
        let rows = Int(max(16, min(256, 2e11 / (perSample * passes))))
        let refinement = try PlanRefinement(graph: graph, calibration: calibration, rows: rows)
        var blocks = first
        var measured = try refinement.measured(blocks)
        var best = (blocks: blocks, measured: measured)
        var scales = [Double](repeating: 1, count: table.layers.count)
        var solves = 1
        for _ in 0..<rounds {
            let additive = PlanRefinement.additive(blocks, table)
            let marginal = try refinement.marginals(blocks, total: measured, layers: table.layers)
            // Damped (geometric mean with the previous scale) and bounded: one noisy
            // measurement must not empty or flood a layer.
            for index in scales.indices where additive[index] > 0 && marginal[index] > 0 {
                scales[index] = min(16, max(1.0 / 16, (scales[index] * marginal[index] / additive[index]).squareRoot()))
            }
            var scaled = table
            for index in scaled.layers.indices { scaled.layers[index].distortion = scaled.layers[index].distortion.map { $0.map { $0 * scales[index] } } }
            let (solution, _) = try KnapsackSolver.fast(scaled.knapsackGroups().groups, budget: budget)
            solves += 1
            blocks = scaled.blocks(for: solution.choices)
            measured = try refinement.measured(blocks)
            if measured < best.measured { best = (blocks, measured) }
        }
        let additive = PlanRefinement.additive(best.blocks, table).reduce(0, +)
        return (best.blocks, Refinement(measured: best.measured, additive: additive, solves: solves))
    }
}
