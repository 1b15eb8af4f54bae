import ArgumentParser
import CommandLineSupport
import IR
import NPY
import ONNXFrontend

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

    @Option(name: [.customShort("o"), .long], help: "Output path (.mpcb for bytecode, .npy for --infer).")
    var output: String?

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
        let imported: ImportedModel
        do {
            imported = try importONNX(path: model)
        } catch let error as ImportError {
            throw CommandFailure(.userError, error.message)
        }
        for (flag, given) in [
            ("--budget", budget != nil), ("--drelus", drelus != nil), ("--calibration", calibration != nil),
            ("--spec", spec != nil), ("--passes", passes != nil), ("--print-after-all", printAfterAll),
            ("--infer", infer != nil), ("--approx-drelu", approxDrelu != nil),
        ] where given {
            throw CommandFailure.notImplemented(flag)
        }
        switch emit {
        case .ir:
            print(Printer().print(imported.graph), terminator: "")
        case .bytecode, .asm, .spec, .report:
            throw CommandFailure.notImplemented("--emit \(emit.rawValue)")
        }
    }
}
