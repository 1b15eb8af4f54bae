import NPY
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built executables sit beside the test binary (`.build/<config>/`).
let binaryDirectory: String = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let exe = count > 0 ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    return String(exe[..<(exe.lastIndex(of: "/") ?? exe.startIndex)])
}()

struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a built executable with arguments; captures its output through temporary files.
func run(_ tool: String, _ arguments: [String]) throws -> Run {
    let directory = "/tmp/mpcc-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    mkdir(directory, 0o755)
    let outPath = "\(directory)/out", errPath = "\(directory)/err"
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let path = "\(binaryDirectory)/\(tool)"
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid = pid_t()
    let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
    guard spawned == 0 else { throw RunError(message: "cannot start \(path): error \(spawned)") }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    let exited = status & 0x7F == 0
    return Run(status: exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F), stdout: contents(outPath), stderr: contents(errPath))
}

struct RunError: Error { var message: String }

func contents(_ path: String) -> String {
    guard let file = fopen(path, "rb") else { return "" }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        bytes += chunk[0..<count]
        if count < chunk.count { break }
    }
    return String(decoding: bytes, as: UTF8.self)
}

func model(_ name: String) -> String { "\(repositoryRoot)/Models/\(name)/model.onnx" }

@Suite struct MPCCCommandTests {
    @Test func emitIRPrintsTheGraph() throws {
        let result = try run("mpcc", [model("tiny_resnet"), "--emit", "ir"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("graph @main_graph(%input: f32[1,3,32,32]) -> (%output: f32[1,10]) {"))
        #expect(result.stdout.contains("// 8 channels, 8192 DReLUs"))
        #expect(result.stderr == "mpcc: note: maxpool-to-avgpool changes the network's function (--keep-maxpool keeps the original); give --calibration to measure by how much\n")
        let kept = try run("mpcc", [model("tiny_resnet"), "--keep-maxpool", "--emit", "ir"])
        #expect(kept.status == 0 && kept.stderr.isEmpty, "\(kept.stderr)")
    }

    /// With calibration inputs each accuracy-changing rewrite is measured against the
    /// original network, with a warning naming the remedies when they disagree: the MNIST
    /// model was trained with max pooling, and average pooling ruins it.
    @Test func accuracyChangingRewritesAreMeasured() throws {
        let mnist = "\(repositoryRoot)/Models/mnist_resnet"
        let result = try run("mpcc", ["\(mnist)/model.onnx", "--calibration", "\(mnist)/calibration.npy", "--labels", "\(mnist)/calibration_labels.npy",
                                      "--emit", "ir"])
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stderr.split(separator: "\n").first { $0.contains("maxpool-to-avgpool") }.map(String.init))
        let match = try #require(line.firstMatch(of: /warning: maxpool-to-avgpool changes the network's function: its top class agrees with the original's on (\d+) of 64 calibration inputs .*; accuracy on them ([0-9.]+) -> ([0-9.]+); below 90%: fine-tune .* --keep-maxpool/))
        #expect(Int(match.1)! < 58 && Double(match.3)! < Double(match.2)!, "\(line)")
        let kept = try run("mpcc", ["\(mnist)/model.onnx", "--keep-maxpool", "--calibration", "\(mnist)/calibration.npy", "--emit", "ir"])
        #expect(!kept.stderr.contains("changes the network's function"), "\(kept.stderr)")
    }

    @Test func unsupportedModelExitsOneWithOneLine() throws {
        let result = try run("mpcc", ["\(repositoryRoot)/Models/unsupported/sigmoid_and_lstm.onnx", "--emit", "ir"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("mpcc: error: ") == true)
        for name in ["Sigmoid", "sig_a", "sig_b", "Tanh", "tanh_1", "LSTM", "lstm_1"] {
            #expect(result.stderr.contains(name), "\(name) missing from: \(result.stderr)")
        }
    }

    @Test(arguments: [
        ["/nonexistent/model.onnx", "--emit", "ir"],
        ["\(repositoryRoot)/Models/tiny_resnet/input.npy", "--emit", "ir"],
        ["\(repositoryRoot)/Models/unsupported/dynamic_spatial.onnx", "--emit", "ir"],
    ])
    func unreadableModelsExitOne(_ arguments: [String]) throws {
        let result = try run("mpcc", arguments)
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("mpcc: error: "))
    }

    @Test(arguments: [
        ["--budget", "-0.5"], ["--budget", "abc"], ["--budget", "0.1", "--drelus", "5"], ["--emit", "pdf"],
        ["--frac-bits", "0"], ["--labels", "y.npy"], ["--no-such-option"], ["--fast-projections", "0"], ["--fast-tolerance", "-1"],
    ])
    func badArgumentsExitOne(_ arguments: [String]) throws {
        let result = try run("mpcc", [model("tiny_resnet")] + arguments)
        #expect(result.status == 1, "\(arguments): \(result.stderr)")
        #expect(result.stderr.contains("error"))
    }

    /// A network whose float values overflow (here to infinity) on the inputs that set
    /// the fixed point is refused with one sentence naming the value; it used to crash.
    @Test func overflowingFloatValuesAreRefused() throws {
        let path = temporaryDirectory() + "/overflow.ir"
        writeFile(path, Array("""
            graph @g(%x: f32[1,4]) -> (%y: f32[1,4]) {
              %c = constant f32[1] [3e38]
              %m = mul(%x, %c) : f32[1,4]
              %n = mul(%m, %c) : f32[1,4]
              %y = relu(%n) : f32[1,4]
              return %y
            }
            """.utf8))
        let result = try run("mpcc", [path, "--passes", "", "-o", temporaryDirectory() + "/o.mpcb"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("mpcc: error: \(path): the network's float values reach inf at 'm' on the synthetic Gaussian inputs"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test func inferRunsTheOriginalFunctionWithKeepFlags() throws {
        let directory = temporaryDirectory()
        let result = try run("mpcc", [
            model("tiny_resnet"), "--keep-maxpool", "--keep-relu6", "--infer", "\(repositoryRoot)/Models/tiny_resnet/input.npy",
            "-o", "\(directory)/out.npy",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("2 inputs"))
        #expect(result.stdout.contains("input 0: class 9"))
        let written = try NPYArray.read(path: "\(directory)/out.npy")
        let reference = try NPYArray.read(path: "\(repositoryRoot)/Models/tiny_resnet/output.npy")
        #expect(written.shape == reference.shape)
        #expect(zip(written.floats, reference.floats).allSatisfy { abs($0 - $1) < 1e-4 })
    }

    @Test func inferWithLabelsPrintsAccuracy() throws {
        let directory = temporaryDirectory()
        try NPYArray(shape: [2], int64: [9, 3]).write(path: "\(directory)/labels.npy")
        let result = try run("mpcc", [
            model("tiny_resnet"), "--infer", "\(repositoryRoot)/Models/tiny_resnet/input.npy", "--labels", "\(directory)/labels.npy",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("accuracy: 1/2"))
        let wrongCount = try run("mpcc", [
            model("tiny_resnet"), "--infer", "\(repositoryRoot)/Models/tiny_resnet/input.npy", "--labels",
            "\(repositoryRoot)/Models/ops/argmax_final/output.npy",
        ])
        #expect(wrongCount.status == 1)
    }

    @Test func inferRejectsBadInputs() throws {
        for input in ["\(repositoryRoot)/Models/odd_shapes/input.npy", "\(repositoryRoot)/Models/tiny_resnet/model.onnx", "/nonexistent.npy"] {
            let result = try run("mpcc", [model("tiny_resnet"), "--infer", input])
            #expect(result.status == 1, "\(input): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test func passesOptionAndPrintAfterAll() throws {
        let none = try run("mpcc", [model("tiny_resnet"), "--emit", "ir", "--passes", ""])
        #expect(none.status == 0)
        #expect(none.stdout.contains("batch_norm(") && none.stdout.contains("max_pool("))
        let some = try run("mpcc", [model("tiny_resnet"), "--emit", "ir", "--passes", "fold-batchnorm", "--print-after-all"])
        #expect(some.status == 0)
        #expect(!some.stdout.contains("batch_norm(") && some.stdout.contains("max_pool("))
        #expect(some.stderr.contains("IR after fold-batchnorm"))
        let unknown = try run("mpcc", [model("tiny_resnet"), "--emit", "ir", "--passes", "fold-everything"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("unknown pass 'fold-everything'"))
        let defaults = try run("mpcc", [model("tiny_resnet"), "--emit", "ir"])
        #expect(!defaults.stdout.contains("max_pool(") && defaults.stdout.contains("avg_pool("))
        let kept = try run("mpcc", [model("tiny_resnet"), "--emit", "ir", "--keep-maxpool"])
        #expect(kept.stdout.contains("max_pool("))
    }

    @Test func helpExitsZero() throws {
        let result = try run("mpcc", ["--help"])
        #expect(result.status == 0)
        for option in ["--budget", "--drelus", "--calibration", "--labels", "--spec", "--emit", "--keep-maxpool", "--keep-relu6",
            "--frac-bits", "--approx-drelu", "--passes", "--print-after-all", "--infer", "-o"]
        {
            #expect(result.stdout.contains(option), "help lacks \(option)")
        }
    }
}

@Suite struct MPCRCommandTests {
    @Test func subcommandsExistWithTheDesignedOptions() throws {
        for (subcommand, options) in [
            ("local", ["--input", "--output", "--report"]), ("party", ["--role", "--config", "--program", "--weights", "--input"]),
            ("emulate", ["--input", "--output"]), ("bench", ["--input", "--repeat", "--report"]),
        ] {
            let result = try run("mpcr", [subcommand, "--help"])
            #expect(result.status == 0)
            for option in options { #expect(result.stdout.contains(option), "mpcr \(subcommand) lacks \(option)") }
        }
    }

    @Test func partyRolesAreChecked() throws {
        let result = try run("mpcr", ["party", "--role", "server", "--config", "p.json", "--program", "m.mpcb"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--weights"))
        let badRole = try run("mpcr", ["party", "--role", "eve", "--config", "p.json", "--program", "m.mpcb"])
        #expect(badRole.status == 1)
        let badTimeout = try run("mpcr", ["local", "m.mpcb", "--input", "x.npy", "--timeout", "-1"])
        #expect(badTimeout.status == 1)
        #expect(badTimeout.stderr.contains("--timeout"))
    }
}

@Suite struct PlanningCommandTests {
    /// A few calibration inputs for tiny_resnet (the first sample of its input, repeated with noise).
    func calibrationFile(_ directory: String, count: Int = 4) throws -> String {
        let input = try NPYArray.read(path: "\(repositoryRoot)/Models/tiny_resnet/input.npy")
        let sample = Array(input.floats.prefix(3 * 32 * 32))
        var generator = SeededGenerator(state: 1)
        let values = (0..<count).flatMap { _ in sample.map { $0 + Float.random(in: -0.1...0.1, using: &generator) } }
        let path = "\(directory)/calibration.npy"
        try NPYArray(shape: [count, 3, 32, 32], float32: values).write(path: path)
        return path
    }

    /// --plot draws one row per ReLU layer (its DReLUs before and after, its block mix)
    /// and the measured distortion sits next to the additive one in the report.
    @Test func reportPlotsThePlan() throws {
        let directory = temporaryDirectory()
        let calibration = try calibrationFile(directory)
        let svg = "\(directory)/plan.svg"
        let result = try run("mpcc", [model("tiny_resnet"), "--keep-maxpool", "--budget", "0.2", "--calibration", calibration, "--emit", "report", "--plot", svg])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("the plan applied as a whole: distortion "))
        let text = String(decoding: try #require(readFile(svg)), as: UTF8.self)
        #expect(text.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\"") && text.hasSuffix("</svg>\n"))
        let layers = result.stdout.split(separator: "\n").filter { $0.contains(" -> ") && $0.contains("x") && !$0.hasPrefix("total") }.count
        #expect(layers > 0 && text.matches(of: /<text[^>]*>\d+ \/ \d+<\/text>/).count == layers, "\(layers) layers")
        let refused = try run("mpcc", [model("tiny_resnet"), "--plot", svg])
        #expect(refused.status != 0 && refused.stderr.contains("--plot goes with --emit report"))
    }

    @Test func budgetPlansAndTheSpecReproducesThePlan() throws {
        let directory = temporaryDirectory()
        let calibration = try calibrationFile(directory)
        let planned = try run("mpcc", [
            model("tiny_resnet"), "--budget", "0.1", "--calibration", calibration, "--distortion", "fast", "--emit", "spec", "-o",
            "\(directory)/plan.json",
        ])
        #expect(planned.status == 0, "\(planned.stderr)")
        let text = contents("\(directory)/plan.json")
        #expect(text.contains("\"format\":\"mpcc-block-plan\""))
        let drelus = text.split(separator: "\"plan_drelus\":").last.flatMap { Int($0.prefix { $0.isNumber }) }
        #expect(drelus != nil && drelus! <= 1433)
        let ir = try run("mpcc", [model("tiny_resnet"), "--spec", "\(directory)/plan.json", "--emit", "ir"])
        #expect(ir.status == 0, "\(ir.stderr)")
        #expect(ir.stdout.contains("block_relu("))
        #expect(ir.stdout.contains("\(drelus ?? -1) DReLUs\n"))
        let report = try run("mpcc", [model("tiny_resnet"), "--spec", "\(directory)/plan.json", "--emit", "report"])
        #expect(report.stdout.contains("14336 -> \(drelus ?? -1) DReLUs"))
    }

    @Test func specForAnotherModelFailsClearly() throws {
        let directory = temporaryDirectory()
        let spec = try run("mpcc", [model("tiny_mobilenetv2"), "--emit", "spec", "-o", "\(directory)/plan.json"])
        #expect(spec.status == 0)
        let result = try run("mpcc", [model("tiny_resnet"), "--spec", "\(directory)/plan.json", "--emit", "ir"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("not a ReLU output of this model"))
        let garbage = "\(directory)/garbage.json"
        try NPYArray(shape: [1], float32: [1]).write(path: garbage)
        let bad = try run("mpcc", [model("tiny_resnet"), "--spec", garbage, "--emit", "ir"])
        #expect(bad.status == 1 && bad.stderr.contains("not a block-size plan"))
    }

    @Test func budgetEdgeCases() throws {
        let directory = temporaryDirectory()
        let calibration = try calibrationFile(directory, count: 2)
        let all = try run("mpcc", [model("tiny_resnet"), "--budget", "1.0", "--emit", "report", "--calibration", calibration])
        #expect(all.status == 0)
        #expect(all.stdout.contains("14336 -> 14336 DReLUs"))
        let none = try run("mpcc", [model("tiny_resnet"), "--drelus", "0", "--distortion", "fast", "--calibration", calibration, "--emit", "report"])
        #expect(none.status == 0, "\(none.stderr)")
        #expect(none.stdout.contains("14336 -> 0 DReLUs"))
        let synthetic = try run("mpcc", [model("tiny_resnet"), "--budget", "1", "--emit", "ir"])
        #expect(synthetic.status == 0 && synthetic.stderr.contains("warning: no --calibration"))
        let wrongShape = try run("mpcc", [
            model("tiny_resnet"), "--budget", "0.5", "--calibration", "\(repositoryRoot)/Models/odd_shapes/input.npy", "--emit", "ir",
        ])
        #expect(wrongShape.status == 1 && wrongShape.stderr.contains("the model takes inputs of shape"))
        let nanPath = "\(directory)/nan.npy"
        try NPYArray(shape: [1, 3, 32, 32], float32: [.nan] + Array(repeating: 0, count: 3 * 32 * 32 - 1)).write(path: nanPath)
        for arguments in [["--budget", "0.5", "--calibration", nanPath, "--emit", "ir"], ["--infer", nanPath]] {
            let rejected = try run("mpcc", [model("tiny_resnet")] + arguments)
            #expect(rejected.status == 1 && rejected.stderr.contains("NaN or infinite"), "\(arguments)")
        }
    }
}

