import IR

/// Chooses block sizes for every ReLU layer under a DReLU budget: distortion from
/// calibration data, then the multiple-choice knapsack (README.md, Method).
public enum BlockReLUPlanner {
    public struct Result: Sendable {
        public var plan: BlockPlan
        /// nil when the budget kept every ReLU exact (nothing was measured).
        public var table: DistortionTable?
        public var budget: Int
        /// Total distortion of the chosen options and the solver's lower bound on the optimum.
        public var distortion: Double
        public var lowerBound: Double
        public var distortionSeconds: Double
        public var knapsackSeconds: Double
        /// The channel-interaction refinement (`Interactions.swift`); nil without
        /// calibration inputs (a loaded table alone).
        public var refinement: Refinement?
    }

    /// DReLUs of the plannable ReLU layers of `graph` at 1x1, per inference.
    public static func modelDReLUs(_ graph: Graph) -> Int { ReLULayer.all(in: graph).reduce(0) { $0 + $1.drelus } }

    /// The default method: exact while its suffix re-runs stay within about 10^8
    /// multiply-adds per calibration sample (tiny models), fast otherwise.
    public static func defaultMethod(for graph: Graph) -> DistortionMethod {
        let work = ReLULayer.all(in: graph).reduce(0.0) { total, layer in
            let runs = Double(layer.channels * BlockCandidates.forMap(height: layer.height, width: layer.width).count)
            return total + runs * graph.suffixMACs(from: layer.output)
        }
        return work <= 1e8 ? .exact : .fast
    }

    /// Plans under `budget` DReLUs. The distortion table is measured on `calibration` with
    /// `method`, unless `table` gives one already measured (`--load-distortion`).
    public static func plan(
        graph: Graph, calibration: Tensor, budget: Int, method: DistortionMethod, table given: DistortionTable? = nil,
        fastSamples: Int = 32, fastProjections: Int = 8, fastRerunMACs: Double = 1e12, fastTolerance: Double = 0.03,
        showProgress: Bool = true
    ) throws -> Result {
        let graph = graph.scoresBeforeArgMax()
        let layers = ReLULayer.all(in: graph)
        let total = layers.reduce(0) { $0 + $1.drelus }
        let clock = ContinuousClock()
        if budget >= total {
            let blocks = Dictionary(uniqueKeysWithValues: layers.map { ($0.name, Array(repeating: BlockSize.relu, count: $0.channels)) })
            let plan = BlockPlan(layers: blocks, modelDReLUs: total, planDReLUs: total, notes: ["budget": "\(budget)"])
            return Result(plan: plan, table: nil, budget: budget, distortion: 0, lowerBound: 0, distortionSeconds: 0, knapsackSeconds: 0)
        }
        let start = clock.now
        var measurement = DistortionMeasurement(graph: graph, calibration: calibration, fastSamples: fastSamples, showProgress: showProgress)
        measurement.fastProjections = fastProjections
        measurement.fastRerunMACs = fastRerunMACs
        measurement.fastTolerance = fastTolerance
        let table = try given ?? measurement.measure(method)
        let measured = clock.now
        let (solution, bound) = try KnapsackSolver.fast(table.knapsackGroups().groups, budget: budget)
        var blocks = table.blocks(for: solution.choices)
        var refinement: Refinement?
        if calibration.elementCount > 0 {
            (blocks, refinement) = try refine(table, budget: budget, graph: graph, calibration: calibration, first: blocks)
        }
        let solved = clock.now
        let plan = BlockPlan(
            layers: blocks, modelDReLUs: total, planDReLUs: BlockPlan.drelus(blocks, in: graph),
            notes: [
                "budget": "\(budget)", "distortion_method": (table.method ?? method).rawValue, "calibration_samples": "\(calibration.shape.first ?? 0)",
                "distortion": "\(solution.distortion)", "distortion_lower_bound": "\(bound)",
            ].merging(refinement.map { ["measured_distortion": "\($0.measured)", "additive_distortion": "\($0.additive)"] } ?? [:]) { a, _ in a })
        return Result(
            plan: plan, table: table, budget: budget, distortion: solution.distortion, lowerBound: bound,
            distortionSeconds: seconds(measured - start), knapsackSeconds: seconds(solved - measured), refinement: refinement)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// Per-layer facts of a planned graph, for `--emit report`.
public struct PlanReport: Sendable {
    public struct Row: Sendable {
        public var name: String
        public var channels: Int
        public var height: Int
        public var width: Int
        public var originalDReLUs: Int
        public var chosenDReLUs: Int
        /// Block sizes with their channel counts, most used first.
        public var histogram: [(block: BlockSize, count: Int)]
        public var distortion: Double?
    }

    public var rows: [Row]

    public init(graph: Graph, table: DistortionTable?) {
        let tableByName = Dictionary(uniqueKeysWithValues: (table?.layers ?? []).map { ($0.layer.name, $0) })
        rows = ReLULayer.all(in: graph).map { layer in
            let blocks: [BlockSize]
            if case .blockReLU(let plan) = graph.nodes[layer.node].op { blocks = plan.blocks } else { blocks = Array(repeating: .relu, count: layer.channels) }
            var counts: [BlockSize: Int] = [:]
            for block in blocks { counts[block, default: 0] += 1 }
            let histogram = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.description < $1.key.description }.map { (block: $0.key, count: $0.value) }
            var distortion: Double?
            if let entry = tableByName[layer.name] {
                distortion = blocks.enumerated().reduce(0) { total, item in
                    guard let candidate = entry.candidates.firstIndex(of: item.element), entry.distortion[item.offset][candidate].isFinite else { return total }
                    return total + entry.distortion[item.offset][candidate]
                }
            }
            return Row(
                name: layer.name, channels: layer.channels, height: layer.height, width: layer.width, originalDReLUs: layer.drelus,
                chosenDReLUs: blocks.reduce(0) { $0 + $1.drelus(height: layer.height, width: layer.width) }, histogram: histogram,
                distortion: distortion)
        }
    }

    public var text: String {
        var lines = ["layer  channels  map  DReLUs (original -> planned)  block sizes (channels)  distortion"]
        for row in rows {
            let blocks = row.histogram.prefix(6).map { "\($0.block):\($0.count)" }.joined(separator: " ") + (row.histogram.count > 6 ? " ..." : "")
            let distortion = row.distortion.map { formatted($0) } ?? "-"
            lines.append("\(row.name)  \(row.channels)  \(row.height)x\(row.width)  \(row.originalDReLUs) -> \(row.chosenDReLUs)  \(blocks)  \(distortion)")
        }
        let original = rows.reduce(0) { $0 + $1.originalDReLUs }, planned = rows.reduce(0) { $0 + $1.chosenDReLUs }
        let share = original > 0 ? Double(planned) / Double(original) * 100 : 0
        lines.append("total: \(rows.count) ReLU layers, \(rows.reduce(0) { $0 + $1.channels }) channels, \(original) -> \(planned) DReLUs (\(formatted(share))%)")
        return lines.joined(separator: "\n") + "\n"
    }
}

func formatted(_ value: Double) -> String {
    if value == 0 { return "0" }
    if abs(value) >= 0.01 && abs(value) < 1e6 { return "\(Double(Int((value * 1000).rounded())) / 1000)" }
    return "\(Float(value))"
}
