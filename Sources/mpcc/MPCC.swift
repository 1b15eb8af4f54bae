import ArgumentParser
import Bytecode
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
            in plaintext float32. A model in mpcc's IR text (.ir) goes through the same passes \
            and stages, so mpcc x.ir --passes fold-batchnorm --emit ir works like mlir-opt; its \
            constants must carry their data (--emit ir writes the data of constants of up to \
            4 values only).
            """)

    static func main() { runAsMain() }

    @Argument(help: ArgumentHelp(
        "The trained model: ONNX (.onnx; external data files beside it) or mpcc IR text (.ir). Not needed with --list-passes or --print-pipeline.",
        valueName: "model"))
    var modelPath: String?

    /// The model argument; validate() makes sure there is one wherever it is read.
    var model: String { modelPath ?? "" }

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

    @Option(help: "Draw the plan as SVG to this path (with --emit report): DReLUs per layer before and after, and each layer's block-size mix.")
    var plot: String?

    @Flag(help: "Keep MaxPool (do not rewrite it to AvgPool); costs comparisons.")
    var keepMaxpool = false

    @Flag(help: "Keep ReLU6 (do not rewrite it to ReLU); costs a second comparison.")
    var keepRelu6 = false

    @Flag(help: "Import Sigmoid (and so SiLU, x * sigmoid(x)) as a piecewise-linear approximation from comparisons and constant slopes (changes the function; a note on stderr gives its maximum error and cost).")
    var approxSigmoid = false

    @Option(help: "Fractional bits of every fixed-point value, weights included (default: 20 for activations, per layer for weights).")
    var fracBits: Int?

    @Flag(help: "Truncate exactly (a comparison of the dropped bits per value): the parties then compute the emulator's values bit for bit, at about three times a truncation's bytes and 7 more rounds each.")
    var exactTruncation = false

    @Flag(help: "Run layers in Z_2^32 where their calibrated values, times 8, fit (needs --calibration): about half the bytes and faster kernels on those layers; activations then get the fractional bits that let every conv and dense layer keep 10 significant weight bits (at least 10; --frac-bits overrides).")
    var narrowRing = false

    @Option(help: "Compare only a window of this many bits in each DReLU.")
    var approxDrelu: Int?

    @Option(help: "Nodes a group in each comparison's carry-lookahead tree: 2, or 4 for half the rounds (5 instead of 8 per exact ReLU in Z_2^64) at more of the helper's offline bytes.")
    var comparisonRadix = 2

    @Option(help: "Comma-separated pass pipeline to run instead of the default.")
    var passes: String?

    @Flag(help: "With --emit ir, print every constant's data (not `{N values}`), so the text compiles again as MODEL.ir.")
    var fullConstants = false

    @Flag(help: "Print the IR after every pass (to stderr).")
    var printAfterAll = false

    @Flag(help: "List every pass (name, whether it changes the network's function, summary) and exit; needs no model.")
    var listPasses = false

    @Flag(help: "Print the pass pipeline this command line runs (after --passes, --keep-maxpool, --keep-relu6) as the text --passes reads, and exit; needs no model.")
    var printPipeline = false

    @Option(help: "Run the compiled graph in plaintext on these inputs (float32 .npy).")
    var infer: String?

    @Option(help: "Distortion estimator for planning: exact or fast (default: exact for small models, fast for large ones).")
    var distortion: DistortionMethod?

    @Option(help: "Calibration samples --distortion fast re-runs its shortlist on (more: slower, closer to exact).")
    var fastSamples: Int = 32

    @Option(help: "Random output projections per sample for --distortion fast's first-order estimates (used when the output has more than 16 values).")
    var fastProjections: Int = 8

    @Option(help: "Multiply-adds --distortion fast may spend on exact re-runs before it samples channels per layer.")
    var fastRerunMacs: Double = 1e12

    @Option(help: "Median relative standard error above which --distortion fast re-runs a layer on its second half of samples.")
    var fastTolerance: Double = 0.03

    @Option(help: "Write the measured distortion table (JSON) to plan other budgets without measuring again.")
    var saveDistortion: String?

    @Option(help: "Plan from a distortion table written by --save-distortion instead of measuring.")
    var loadDistortion: String?

    func validate() throws {
        if modelPath == nil && !listPasses && !printPipeline {
            throw ValidationError("give a model (.onnx or .ir); only --list-passes and --print-pipeline run without one")
        }
        if let budget, !(budget >= 0 && budget <= 1) {
            throw ValidationError("--budget must be a fraction between 0 and 1, got \(budget)")
        }
        if let drelus, drelus < 0 { throw ValidationError("--drelus must not be negative, got \(drelus)") }
        if budget != nil && drelus != nil { throw ValidationError("give either --budget or --drelus, not both") }
        if spec != nil && (budget != nil || drelus != nil) {
            throw ValidationError("--spec gives the block sizes; it does not combine with --budget or --drelus")
        }
        if narrowRing && calibration == nil {
            throw ValidationError("--narrow-ring needs --calibration: each layer's ring comes from the values the calibration inputs reach")
        }
        if labels != nil && calibration == nil && infer == nil {
            throw ValidationError("--labels needs --calibration or --infer")
        }
        if plot != nil && emit != .report { throw ValidationError("--plot goes with --emit report") }
        if (saveDistortion != nil || loadDistortion != nil) && budget == nil && drelus == nil {
            throw ValidationError("--save-distortion and --load-distortion go with --budget or --drelus")
        }
        if fastSamples < 1 { throw ValidationError("--fast-samples must be at least 1, got \(fastSamples)") }
        if fastProjections < 1 { throw ValidationError("--fast-projections must be at least 1, got \(fastProjections)") }
        if !(fastRerunMacs >= 0) { throw ValidationError("--fast-rerun-macs must not be negative") }
        if !(fastTolerance >= 0) { throw ValidationError("--fast-tolerance must not be negative") }
        if let fracBits, !(1...30).contains(fracBits) { throw ValidationError("--frac-bits must be between 1 and 30, got \(fracBits)") }
        if let approxDrelu, !(2...64).contains(approxDrelu) {
            throw ValidationError("--approx-drelu must be between 2 and 64 bits, got \(approxDrelu)")
        }
        if ![2, 4].contains(comparisonRadix) { throw ValidationError("--comparison-radix must be 2 or 4, got \(comparisonRadix)") }
    }

    func run() throws {
        if listPasses {
            for line in PassRegistry.listing() { print(line) }
            return
        }
        if printPipeline {
            do {
                print(PassRegistry.text(of: try selectedPasses()))
            } catch let error as IRError {
                throw CommandFailure(.userError, error.message)
            }
            return
        }
        let compiled = try compile()
        try produce(compiled.graph, sigmoids: compiled.sigmoids)
        // Said once the command has done its work (an error stays the only line).
        for line in compiled.functionChanges { printError(line) }
    }

    /// Plans, then infers or emits what was asked for.
    /// `sigmoids`: the outputs of approximated Sigmoid nodes, for the report.
    func produce(_ compiled: Graph, sigmoids: [String]) throws {
        var graph = compiled
        let unplanned = graph
        let planning = try applyPlanning(&graph)
        if let infer {
            try runInference(&graph, inputPath: infer)
            return
        }
        switch emit {
        case .ir:
            print(Printer(inlineConstantLimit: fullConstants ? .max : 4).print(graph), terminator: "")
        case .spec:
            let plan = planning?.plan ?? BlockPlan.of(graph)
            try write(try plan.json(), to: outputPath)
        case .report:
            try printReport(graph, unplanned: unplanned, planning: planning, sigmoids: sigmoids)
        case .bytecode:
            try writeBytecode(graph)
        case .asm:
            try write(Disassembler.text(try lower(graph).program), to: outputPath)
        }
    }

    /// The passes to run: --passes, or the default pipeline less what --keep-* keeps out.
    func selectedPasses() throws -> [any Pass.Type] {
        try passes.map { $0.isEmpty ? [] : try PassRegistry.pipeline($0) }
            ?? PassRegistry.defaultPipeline(keepReLU6: keepRelu6, keepMaxPool: keepMaxpool)
    }

    /// Reads the model and runs the pass pipeline (the default one, or --passes); also
    /// says how far its accuracy-changing rewrites move the network (`RewriteCheck.swift`).
    func compile() throws -> (graph: Graph, functionChanges: [String], sigmoids: [String]) {
        do {
            var (graph, sigmoids) = try inputGraph()
            let passes = try selectedPasses()
            let functionChanges = try self.functionChanges(graph, passes: passes)
            let manager = PassManager(passes: passes) { name, graph in
                guard printAfterAll else { return }
                printError("// -----// IR after \(name) //----- //")
                printError(Printer().print(graph))
            }
            try manager.run(&graph)
            return (graph, functionChanges, sigmoids)
        } catch let error as ImportError {
            throw CommandFailure(.userError, error.message)
        } catch let error as IRError {
            throw CommandFailure(.userError, "\(model): \(error.message)")
        }
    }

    /// The model as IR: parsed and verified for `.ir` files, imported from ONNX otherwise;
    /// and the outputs of the Sigmoid nodes --approx-sigmoid approximated.
    func inputGraph() throws -> (Graph, sigmoids: [String]) {
        guard model.hasSuffix(".ir") else {
            let imported = try importONNX(path: model, options: ImportOptions(approximateSigmoid: approxSigmoid))
            if !imported.approximatedSigmoids.isEmpty {
                let count = imported.approximatedSigmoids.count
                printError("mpcc: note: \(count) Sigmoid \(count == 1 ? "node is a piecewise-linear approximation" : "nodes are piecewise-linear approximations") (--approx-sigmoid): "
                    + "within \(SigmoidApproximation.maxError) of the sigmoid everywhere, \(SigmoidApproximation.comparisons) comparisons per element")
            }
            if let batch = imported.exportedBatch {
                printError("mpcc: note: \(model) was exported with a fixed batch of \(batch); it compiles for one inference, and an input array with batch N is N inferences")
            }
            return (imported.graph, imported.approximatedSigmoids)
        }
        guard let data = FileManager.default.contents(atPath: model) else { throw CommandFailure(.userError, "cannot read \(model)") }
        guard let text = String(data: data, encoding: .utf8) else { throw CommandFailure(.userError, "\(model) is not UTF-8 text") }
        do {
            let graph = try Parser().parse(text)
            // Checked here too, so a parser that admits more can never hand on a broken graph.
            try Verifier.verify(graph)
            return (graph, [])
        } catch let error as IRError {
            // The parser quotes the text near the error, which may span lines.
            throw CommandFailure(.userError, "\(model) is not valid mpcc IR: \(error.message.replacingOccurrences(of: "\n", with: "\\n"))")
        }
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
