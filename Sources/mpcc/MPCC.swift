import ArgumentParser
import CommandLineSupport
import FloatEngine
import IR
import NPY
import ONNXFrontend
import Passes

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
        if !(1...30).contains(fracBits) { throw ValidationError("--frac-bits must be between 1 and 30, got \(fracBits)") }
        if let approxDrelu, !(2...64).contains(approxDrelu) {
            throw ValidationError("--approx-drelu must be between 2 and 64 bits, got \(approxDrelu)")
        }
    }

    func run() throws {
        var graph = try compile()
        for (flag, given) in [
            ("--budget", budget != nil), ("--drelus", drelus != nil), ("--calibration", calibration != nil),
            ("--spec", spec != nil), ("--approx-drelu", approxDrelu != nil),
        ] where given {
            throw CommandFailure.notImplemented(flag)
        }
        if let infer {
            try runInference(&graph, inputPath: infer)
            return
        }
        switch emit {
        case .ir:
            print(Printer().print(graph), terminator: "")
        case .bytecode, .asm, .spec, .report:
            throw CommandFailure.notImplemented("--emit \(emit.rawValue)")
        }
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

    /// Top-5 classes of a classifier's output, or its accuracy against labels.
    func printPredictions(_ output: Tensor, count: Int, labels: NPYArray?) throws {
        let perInput = output.elementCount / max(count, 1)
        let isClassifier = output.dtype == .f32 && output.shape.count == 2
        if let labels {
            guard case .int64(let truth) = labels.data, truth.count == count else {
                throw CommandFailure(.userError, "--labels must hold \(count) int64 class indices")
            }
            guard isClassifier else { throw CommandFailure(.userError, "--labels needs a classifier output [N, classes], got \(output.type)") }
            let scores = output.floats
            let correct = (0..<count).filter { row in
                let slice = scores[(row * perInput)..<((row + 1) * perInput)]
                return Int64(slice.indices.max { slice[$0] < slice[$1] }! - row * perInput) == truth[row]
            }.count
            print("accuracy: \(correct)/\(count) = \(Double(correct) / Double(count))")
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
