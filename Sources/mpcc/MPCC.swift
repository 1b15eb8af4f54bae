import ArgumentParser
import CommandLineSupport
import FloatEngine
import IR
import NPY
import Foundation
import ONNXFrontend
import Passes
import Planner

/// What `--emit` writes.
enum EmitKind: String, ExpressibleByArgument, CaseIterable {
    case bytecode, ir, asm, spec, report
}

@main
struct MPCC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpcc",
        abstract: "Compile an ONNX CNN into a three-party secure inference program.",
        discussion: """
            Without --emit, writes OUT.mpcb (the public program) and OUT.mpcw (the server's \
            weights). --emit ir prints the IR that will run; --infer runs the compiled graph \
            in plaintext float32.
            """)

    static func main() { runAsMain() }

    @Argument(help: "The trained model (.onnx; external data files beside it).")
    var model: String

    @Option(help: "Keep this fraction of the DReLUs of the ReLU layers (0 to 1).")
    var budget: Double?

    @Option(help: "Keep at most this many DReLUs (absolute form of --budget).")
    var drelus: Int?

    @Option(help: "Calibration inputs for block-size planning (float32 .npy, N x C x H x W).")
    var calibration: String?

    @Option(help: "Labels for the calibration or --infer inputs (int64 .npy); reports accuracy.")
    var labels: String?

    @Option(help: "Reuse a block-size plan (JSON from --emit spec).")
    var spec: String?

    @Option(name: [.customShort("o"), .customLong("output")], help: "Output path (.mpcb for bytecode, .npy for --infer).")
    var outputPath: String?

    @Option(help: "What to produce: bytecode, ir, asm, spec or report.")
    var emit: EmitKind = .bytecode

    @Option(help: "Write the report as JSON to this path (with --emit report).")
    var report: String?

    @Flag(help: "Keep MaxPool (do not rewrite it to AvgPool); costs comparisons.")
    var keepMaxpool = false

    @Flag(help: "Keep ReLU6 (do not rewrite it to ReLU); costs a second comparison.")
    var keepRelu6 = false

    @Option(help: "Fractional bits of the fixed-point encoding.")
    var fracBits: Int = 12

    @Option(help: "Compare only a window of this many bits in each DReLU.")
    var approxDrelu: Int?

    @Option(help: "Comma-separated pass pipeline to run instead of the default.")
    var passes: String?

    @Flag(help: "Print the IR after every pass (to stderr).")
    var printAfterAll = false

    @Option(help: "Run the compiled graph in plaintext on these inputs (float32 .npy).")
    var infer: String?

    @Option(help: "Distortion estimator for planning: exact or fast (default: exact for small models, fast for large ones).")
    var distortion: DistortionMethod?

    @Option(help: "Write the measured distortion table (JSON) to plan other budgets without measuring again.")
    var saveDistortion: String?

    @Option(help: "Plan from a distortion table written by --save-distortion instead of measuring.")
    var loadDistortion: String?

    func validate() throws {
        if let budget, !(budget >= 0 && budget <= 1) {
            throw ValidationError("--budget must be a fraction between 0 and 1, got \(budget)")
        }
        if let drelus, drelus < 0 { throw ValidationError("--drelus must not be negative, got \(drelus)") }
        if budget != nil && drelus != nil { throw ValidationError("give either --budget or --drelus, not both") }
        if spec != nil && (budget != nil || drelus != nil) {
            throw ValidationError("--spec gives the block sizes; it does not combine with --budget or --drelus")
        }
        if labels != nil && calibration == nil && infer == nil {
            throw ValidationError("--labels needs --calibration or --infer")
        }
        if (saveDistortion != nil || loadDistortion != nil) && budget == nil && drelus == nil {
            throw ValidationError("--save-distortion and --load-distortion go with --budget or --drelus")
        }
        if !(1...30).contains(fracBits) { throw ValidationError("--frac-bits must be between 1 and 30, got \(fracBits)") }
        if let approxDrelu, !(2...64).contains(approxDrelu) {
            throw ValidationError("--approx-drelu must be between 2 and 64 bits, got \(approxDrelu)")
        }
    }

    func run() throws {
        var graph = try compile()
        if approxDrelu != nil { throw CommandFailure.notImplemented("--approx-drelu") }
        let unplanned = graph
        let planning = try applyPlanning(&graph)
        if let infer {
            try runInference(&graph, inputPath: infer)
            return
        }
        switch emit {
        case .ir:
            print(Printer().print(graph), terminator: "")
        case .spec:
            let plan = planning?.plan ?? BlockPlan.of(graph)
            try write(try plan.json(), to: outputPath)
        case .report:
            try printReport(graph, unplanned: unplanned, planning: planning)
        case .bytecode, .asm:
            throw CommandFailure.notImplemented("--emit \(emit.rawValue)")
        }
    }

    /// Inserts block ReLUs from --spec, or plans them under --budget / --drelus.
    func applyPlanning(_ graph: inout Graph) throws -> BlockReLUPlanner.Result? {
        do {
            if let spec {
                let plan = try BlockPlan.read(path: spec)
                try plan.apply(to: &graph)
                return nil
            }
            guard budget != nil || drelus != nil else { return nil }
            let total = BlockReLUPlanner.modelDReLUs(graph)
            let limit = drelus ?? Int((budget! * Double(total)).rounded(.down))
            let method = distortion ?? BlockReLUPlanner.defaultMethod(for: graph)
            let table = try loadDistortion.map { try DistortionTable.read(path: $0, for: graph) }
            let inputs = table == nil ? try calibrationInputs(for: graph) : Tensor(shape: [0], floats: [])
            let result = try BlockReLUPlanner.plan(graph: graph, calibration: inputs, budget: limit, method: method, table: table)
            if let path = saveDistortion, let measured = result.table {
                guard FileManager.default.createFile(atPath: path, contents: try measured.json(method: method)) else {
                    throw CommandFailure(.userError, "cannot write \(path)")
                }
            }
            try result.plan.apply(to: &graph)
            return result
        } catch let error as PlanError {
            throw CommandFailure(.userError, error.message)
        } catch let error as KnapsackError {
            throw CommandFailure(.userError, error.description)
        } catch let error as NPYError {
            throw CommandFailure(.userError, error.message)
        }
    }

    /// --calibration inputs, checked against the model's input, or synthetic ones.
    func calibrationInputs(for graph: Graph) throws -> Tensor {
        let sample = graph.type(of: graph.inputs[0])
        guard let calibration else {
            printError("mpcc: warning: no --calibration given; planning on 64 synthetic Gaussian inputs, so block sizes will be poor")
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            let count = 64 * sample.elementCount
            let values = (0..<count).map { _ -> Float in
                // Box-Muller on a SplitMix64 stream: reproducible synthetic inputs.
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                let u1 = Double(z >> 11 | 1) / Double(1 << 53), u2 = Double((z >> 3) & 0xFFFF) / 65536
                return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
            }
            return Tensor(shape: [64 * sample.shape[0]] + sample.shape.dropFirst(), floats: values)
        }
        let array = try NPYArray.read(path: calibration)
        guard case .float32(let values) = array.data else { throw CommandFailure(.userError, "\(calibration) holds int64 values; calibration inputs must be float32") }
        guard array.shape.count == sample.rank, Array(array.shape.dropFirst()) == Array(sample.shape.dropFirst()), array.shape[0] > 0 else {
            throw CommandFailure(.userError, "\(calibration) has shape \(array.shape); the model takes inputs of shape \(sample.shape) (N x \(sample.shape.dropFirst().map(String.init).joined(separator: " x ")))")
        }
        return Tensor(shape: array.shape, floats: values)
    }

    /// --emit report: per-layer DReLUs and block sizes, accuracy with --labels, JSON with --report.
    func printReport(_ graph: Graph, unplanned: Graph, planning: BlockReLUPlanner.Result?) throws {
        let layers = PlanReport(graph: graph, table: planning?.table)
        print(layers.text, terminator: "")
        var accuracy: [String: Double] = [:]
        if let labels, let calibration {
            let inputs = try NPYArray.read(path: calibration)
            let truth = try NPYArray.read(path: labels)
            guard case .int64(let classes) = truth.data, classes.count == inputs.shape.first else {
                throw CommandFailure(.userError, "\(labels) must hold one int64 class per calibration input")
            }
            let tensor = Tensor(shape: inputs.shape, floats: inputs.floats)
            for (name, candidate) in [("original", unplanned), ("planned", graph)] {
                let output = try FloatEngine(graph: candidate).runBatch(tensor)[0]
                accuracy[name] = top1(output, classes)
            }
            print("float top-1 on the calibration set: original \(accuracy["original"]!), planned \(accuracy["planned"]!)")
        }
        if let planning {
            print("distortion: \(planning.distortion) (lower bound \(planning.lowerBound)); measured in \(rounded(planning.distortionSeconds)) s, knapsack \(rounded(planning.knapsackSeconds)) s")
        }
        guard let path = report else { return }
        var json: [String: Any] = [
            "model_drelus": layers.rows.reduce(0) { $0 + $1.originalDReLUs }, "plan_drelus": layers.rows.reduce(0) { $0 + $1.chosenDReLUs },
            "layers": layers.rows.map { row -> [String: Any] in
                var entry: [String: Any] = [
                    "name": row.name, "channels": row.channels, "height": row.height, "width": row.width,
                    "original_drelus": row.originalDReLUs, "planned_drelus": row.chosenDReLUs,
                    "blocks": Dictionary(uniqueKeysWithValues: row.histogram.map { ("\($0.block)", $0.count) }),
                ]
                if let distortion = row.distortion { entry["distortion"] = distortion }
                return entry
            },
        ]
        if !accuracy.isEmpty { json["accuracy"] = accuracy }
        if let planning {
            json["budget"] = planning.budget
            json["distortion"] = planning.distortion
            json["distortion_lower_bound"] = planning.lowerBound
            json["distortion_seconds"] = planning.distortionSeconds
            json["knapsack_seconds"] = planning.knapsackSeconds
        }
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        guard FileManager.default.createFile(atPath: path, contents: data) else { throw CommandFailure(.userError, "cannot write \(path)") }
    }

    func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }

    /// Writes `text` to `path`, or to stdout without one.
    func write(_ text: String, to path: String?) throws {
        guard let path else {
            print(text, terminator: "")
            return
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else { throw CommandFailure(.userError, "cannot write \(path)") }
    }

    /// Imports the model and runs the pass pipeline (the default one, or --passes).
    func compile() throws -> Graph {
        do {
            var graph = try importONNX(path: model).graph
            let passes = try passes.map { $0.isEmpty ? [] : try PassRegistry.pipeline($0) }
                ?? PassRegistry.defaultPipeline(keepReLU6: keepRelu6, keepMaxPool: keepMaxpool)
            let manager = PassManager(passes: passes) { name, graph in
                guard printAfterAll else { return }
                printError("// -----// IR after \(name) //----- //")
                printError(Printer().print(graph))
            }
            try manager.run(&graph)
            return graph
        } catch let error as ImportError {
            throw CommandFailure(.userError, error.message)
        } catch let error as IRError {
            throw CommandFailure(.userError, "\(model): \(error.message)")
        }
    }

    /// --infer: the float engine on the compiled graph, one inference per input row.
    func runInference(_ graph: inout Graph, inputPath: String) throws {
        let input: NPYArray
        let labelArray: NPYArray?
        do {
            input = try NPYArray.read(path: inputPath)
            labelArray = try labels.map { try NPYArray.read(path: $0) }
        } catch let error as NPYError {
            throw CommandFailure(.userError, error.message)
        }
        guard case .float32(let values) = input.data else {
            throw CommandFailure(.userError, "\(inputPath) holds int64 values; inputs must be float32")
        }
        let engine = try FloatEngine(graph: graph)
        let outputs: [Tensor]
        let clock = ContinuousClock()
        let start = clock.now
        do {
            outputs = try engine.runBatch(Tensor(shape: input.shape, floats: values))
        } catch let error as EngineError {
            throw CommandFailure(.userError, "\(inputPath): \(error.message)")
        }
        let elapsed = clock.now - start
        let output = outputs[0]
        let count = max(input.shape.first ?? 1, 1) / max(graph.type(of: graph.inputs[0]).shape.first ?? 1, 1)
        if let path = outputPath {
            let array: NPYArray
            switch output.storage {
            case .f32(let data): array = NPYArray(shape: output.shape, float32: data)
            case .i64(let data): array = NPYArray(shape: output.shape, int64: data)
            }
            do { try array.write(path: path) } catch let error as NPYError { throw CommandFailure(.userError, error.message) }
        }
        let perInput = (elapsed / max(count, 1)).formatted
        print("float inference: \(count) input\(count == 1 ? "" : "s"), \(perInput) per input, output \(output.type)")
        try printPredictions(output, count: count, labels: labelArray)
    }

    /// Fraction of rows whose largest score is at the label's index.
    func top1(_ output: Tensor, _ labels: [Int64]) -> Double {
        let scores = output.floats
        let width = output.elementCount / max(labels.count, 1)
        let correct = labels.indices.filter { row in
            let slice = scores[(row * width)..<((row + 1) * width)]
            return Int64(slice.indices.max { slice[$0] < slice[$1] }! - row * width) == labels[row]
        }.count
        return Double(correct) / Double(max(labels.count, 1))
    }

    /// Top-5 classes of a classifier's output, or its accuracy against labels.
    func printPredictions(_ output: Tensor, count: Int, labels: NPYArray?) throws {
        let perInput = output.elementCount / max(count, 1)
        let isClassifier = output.dtype == .f32 && output.shape.count == 2
        if let labels {
            guard case .int64(let truth) = labels.data, truth.count == count else {
                throw CommandFailure(.userError, "--labels must hold \(count) int64 class indices")
            }
            guard isClassifier else { throw CommandFailure(.userError, "--labels needs a classifier output [N, classes], got \(output.type)") }
            let accuracy = top1(output, truth)
            print("accuracy: \(Int((accuracy * Double(count)).rounded()))/\(count) = \(accuracy)")
            return
        }
        guard isClassifier else { return }
        let scores = output.floats
        for row in 0..<min(count, 10) {
            let slice = Array(scores[(row * perInput)..<((row + 1) * perInput)])
            let top = slice.indices.sorted { slice[$0] > slice[$1] }.prefix(5)
            print("input \(row): " + top.map { "class \($0) (\(slice[$0]))" }.joined(separator: ", "))
        }
        if count > 10 { print("... \(count - 10) more") }
    }
}

extension Duration {
    /// Milliseconds with two decimals.
    var formatted: String {
        let milliseconds = Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
        return "\(Double(Int(milliseconds * 100)) / 100) ms"
    }
}
extension DistortionMethod: ExpressibleByArgument {}
