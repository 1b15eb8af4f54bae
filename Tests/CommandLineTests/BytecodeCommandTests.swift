import Foundation
import NPY
import TestSupport
import Testing

/// mpcc's bytecode output and mpcr's emulate and inspect, through the executables.
@Suite struct BytecodeCommandTests {
    /// Compiles tiny_resnet (original function) into a fresh directory.
    func compiled(_ extra: [String] = []) throws -> (directory: String, program: String) {
        let directory = temporaryDirectory()
        let program = "\(directory)/tiny.mpcb"
        let result = try run("mpcc", [model("tiny_resnet"), "--keep-maxpool", "--keep-relu6", "-o", program] + extra)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("wrote \(program)"))
        #expect(result.stdout.contains("DReLUs"))
        return (directory, program)
    }

    @Test func compileWritesProgramAndWeightsAndEmulateMatchesOnnxruntime() throws {
        let (directory, program) = try compiled()
        #expect(fileExists("\(directory)/tiny.mpcw"))
        let result = try run("mpcr", ["emulate", program, "--input", "\(repositoryRoot)/Models/tiny_resnet/input.npy", "--output", "\(directory)/out.npy"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("input 1: class"))
        let output = try NPYArray.read(path: "\(directory)/out.npy")
        let reference = try NPYArray.read(path: "\(repositoryRoot)/Models/tiny_resnet/output.npy")
        #expect(output.shape == reference.shape)
        let error = zip(output.floats, reference.floats).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(error < 0.02, "emulated output differs from onnxruntime's by \(error)")
    }

    @Test func inspectAndEmitAsmDisassembleTheSameProgram() throws {
        let (_, program) = try compiled()
        let inspect = try run("mpcr", ["inspect", program])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let asm = try run("mpcc", [model("tiny_resnet"), "--keep-maxpool", "--keep-relu6", "--emit", "asm"])
        #expect(asm.status == 0, "\(asm.stderr)")
        #expect(inspect.stdout == asm.stdout)
        #expect(asm.stdout.contains("= conv %"))
        #expect(asm.stdout.contains("= relu %"))
        #expect(asm.stdout.contains("= reveal client %"))
        #expect(asm.stdout.contains("; total:"))
    }

    @Test func reportShowsPredictedCost() throws {
        let directory = temporaryDirectory()
        let result = try run("mpcc", [model("tiny_resnet"), "--emit", "report", "--report", "\(directory)/r.json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("secure cost per inference"))
        #expect(contents("\(directory)/r.json").contains("\"online_bytes\""))
    }

    /// --approx-sigmoid: each approximated node's largest input magnitude on the
    /// calibration rows and the approximation's error within it, below the global bound.
    @Test func reportGivesEachSigmoidsErrorOnTheCalibrationInputs() throws {
        let directory = temporaryDirectory()
        let calibration = "\(repositoryRoot)/Models/tiny_efficientnet/input.npy"
        let result = try run("mpcc", [model("tiny_efficientnet"), "--approx-sigmoid", "--calibration", calibration, "--emit", "report", "--report", "\(directory)/r.json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("sigmoid approximation (--approx-sigmoid): 17 nodes; on 1 calibration input the largest error is"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contents("\(directory)/r.json").utf8)) as? [String: Any])
        let nodes = try #require(json["sigmoid_approximation"] as? [[String: Any]])
        #expect(nodes.count == 17)
        for node in nodes {
            let (magnitude, error) = (try #require(node["input_magnitude"] as? Double), try #require(node["max_error"] as? Double))
            #expect(magnitude > 0 && error > 0 && error <= 0.0042, "\(node)")
            #expect(result.stdout.contains("  \(node["name"] as? String ?? "?"): |x| <= "))
        }
    }

    /// The ASPP's three dilated branches share one comparison; the report says so.
    @Test func reportNamesLayersThatShareRounds() throws {
        let result = try run("mpcc", [model("tiny_deeplab"), "--keep-maxpool", "--keep-relu6", "--emit", "report"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("(3 merged) /aspp/branches.0/"), "\(result.stdout)")
    }

    @Test func corruptedProgramsAndForeignWeightsFailClearly() throws {
        let (directory, program) = try compiled()
        let input = "\(repositoryRoot)/Models/tiny_resnet/input.npy"
        var bytes = readFile(program)!

        bytes[bytes.count / 2] ^= 0x40
        writeFile("\(directory)/flipped.mpcb", bytes)
        let flipped = try run("mpcr", ["inspect", "\(directory)/flipped.mpcb"])
        #expect(flipped.status == 1)
        #expect(flipped.stderr.contains("corrupt"), "\(flipped.stderr)")

        writeFile("\(directory)/short.mpcb", Array(readFile(program)!.prefix(100)))
        let short = try run("mpcr", ["inspect", "\(directory)/short.mpcb"])
        #expect(short.status == 1)
        #expect(short.stderr.contains("truncated"), "\(short.stderr)")

        // Weights of another program beside this one.
        let other = try run("mpcc", [model("tiny_resnet_avgpool"), "-o", "\(directory)/other.mpcb"])
        #expect(other.status == 0)
        writeFile("\(directory)/tiny.mpcw", readFile("\(directory)/other.mpcw")!)
        let foreign = try run("mpcr", ["emulate", program, "--input", input])
        #expect(foreign.status == 1)
        #expect(foreign.stderr.contains("another program"), "\(foreign.stderr)")

        let missing = try run("mpcr", ["emulate", "\(directory)/none.mpcb", "--input", input])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("cannot read"))
    }

    @Test func emulateRejectsInputsOfTheWrongShape() throws {
        let (_, program) = try compiled()
        let result = try run("mpcr", ["emulate", program, "--input", "\(repositoryRoot)/Models/odd_shapes/input.npy"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("the program takes inputs of shape"), "\(result.stderr)")
    }

    /// With --calibration the program bounds the client's input: a far-off input is
    /// clamped with a warning, and the output stays finite.
    @Test func inputsOutsideTheCalibratedRangeAreClampedWithAWarning() throws {
        let directory = temporaryDirectory()
        let input = "\(repositoryRoot)/Models/tiny_resnet/input.npy"
        let program = "\(directory)/calibrated.mpcb"
        let compiled = try run("mpcc", [model("tiny_resnet"), "--calibration", input, "-o", program])
        #expect(compiled.status == 0, "\(compiled.stderr)")
        #expect(try run("mpcr", ["inspect", program]).stdout.contains("; input clamped to ["))
        let original = try NPYArray.read(path: input)
        let far = "\(directory)/far.npy"
        try NPYArray(shape: original.shape, float32: original.floats.map { $0 * 1e6 }).write(path: far)
        let output = "\(directory)/out.npy"
        let emulated = try run("mpcr", ["emulate", program, "--input", far, "--output", output])
        #expect(emulated.status == 0, "\(emulated.stderr)")
        #expect(emulated.stderr.contains("input values lie outside the calibrated range"), "\(emulated.stderr)")
        #expect(try NPYArray.read(path: output).floats.allSatisfy { $0.isFinite && abs($0) < 1e4 })
        let plain = try run("mpcr", ["emulate", program, "--input", input])
        #expect(!plain.stderr.contains("outside the calibrated range"), "\(plain.stderr)")
    }

    /// Calibration inputs that drive activations high give fewer fractional bits, so the
    /// truncations keep their headroom; emulating those inputs matches the float engine.
    @Test func largeCalibratedActivationsGetFewerFractionalBits() throws {
        let directory = temporaryDirectory()
        let original = try NPYArray.read(path: "\(repositoryRoot)/Models/tiny_resnet/input.npy")
        let large = "\(directory)/large.npy"
        try NPYArray(shape: original.shape, float32: original.floats.map { $0 * 1e5 }).write(path: large)
        let program = "\(directory)/large.mpcb"
        let arguments = [model("tiny_resnet"), "--keep-maxpool", "--keep-relu6", "--calibration", large]
        #expect(try run("mpcc", arguments + ["-o", program]).status == 0)
        let header = try run("mpcr", ["inspect", program]).stdout.split(separator: "\n").first.map(String.init) ?? ""
        let bits = try #require(header.firstMatch(of: /(\d+) fractional bits/).flatMap { Int($0.1) })
        #expect(bits < 20, "\(header)")
        let report = try run("mpcc", arguments + ["--emit", "report"])
        #expect(report.stdout.contains("bits of headroom"), "\(report.stdout)")
        let emulated = "\(directory)/emulated.npy", float = "\(directory)/float.npy"
        #expect(try run("mpcr", ["emulate", program, "--input", large, "--output", emulated]).status == 0)
        #expect(try run("mpcc", arguments + ["--infer", large, "-o", float]).status == 0)
        let (e, f) = (try NPYArray.read(path: emulated).floats, try NPYArray.read(path: float).floats)
        let scale = f.reduce(0) { max($0, abs($1)) }
        #expect(zip(e, f).allSatisfy { abs($0 - $1) <= 1e-3 * scale }, "emulation differs from the float engine at scale \(scale)")
    }

    /// --exact-truncation reaches the program, and three local parties then print the
    /// emulator's output exactly.
    @Test func exactTruncationMatchesTheEmulatorThroughTheCommands() throws {
        let (directory, program) = try compiled(["--exact-truncation"])
        let asm = try run("mpcr", ["inspect", program]).stdout
        #expect(asm.contains("exact=1") && !asm.contains("exact=0"))
        let input = "\(repositoryRoot)/Models/tiny_resnet/input.npy"
        #expect(try run("mpcr", ["emulate", program, "--input", input, "--output", "\(directory)/emulated.npy"]).status == 0)
        let local = try run("mpcr", ["local", program, "--input", input, "--output", "\(directory)/secure.npy"])
        #expect(local.status == 0, "\(local.stderr)")
        #expect(try NPYArray.read(path: "\(directory)/secure.npy").floats == NPYArray.read(path: "\(directory)/emulated.npy").floats)
    }

    @Test func blockPlansAndApproximateDReLUsCompile() throws {
        let directory = temporaryDirectory()
        let program = "\(directory)/planned.mpcb"
        let result = try run("mpcc", [model("tiny_resnet"), "--budget", "0.1", "--approx-drelu", "16", "-o", program])
        #expect(result.status == 0, "\(result.stderr)")
        let asm = try run("mpcr", ["inspect", program])
        #expect(asm.stdout.contains("block_relu"))
        #expect(asm.stdout.contains("bits=16"))
        let emulated = try run("mpcr", ["emulate", program, "--input", "\(repositoryRoot)/Models/tiny_resnet/input.npy"])
        #expect(emulated.status == 0, "\(emulated.stderr)")
    }

    @Test func approximateWindowsComeFromCalibration() throws {
        let mnist = "\(repositoryRoot)/Models/mnist_resnet"
        let all = try NPYArray.read(path: "\(mnist)/calibration.npy")
        let calibration = "\(temporaryDirectory())/calibration.npy"
        try NPYArray(shape: [8] + all.shape.dropFirst(), float32: Array(all.floats.prefix(8 * 28 * 28))).write(path: calibration)
        let arguments = ["\(mnist)/model.onnx", "--keep-maxpool", "--approx-drelu", "16", "--calibration", calibration]
        let report = try run("mpcc", arguments + ["--emit", "report"])
        #expect(report.status == 0, "\(report.stderr)")
        #expect(report.stdout.contains("windows from calibration ranges"))
        let asm = try run("mpcc", arguments + ["--emit", "asm"])
        // MNIST activations are small: every window sits lower than the default, f + 9 - 16
        // dropped bits (f: the program's fractional bits, in the disassembly's header).
        let header = asm.stdout.split(separator: "\n").first.map(String.init) ?? ""
        let f = try #require(header.firstMatch(of: /(\d+) fractional bits/).flatMap { Int($0.1) })
        let dropped = asm.stdout.matches(of: /bits=16, dropped=(\d+)/).compactMap { Int($0.1) }
        #expect(!dropped.isEmpty && dropped.allSatisfy { $0 < f + 9 - 16 }, "windows \(dropped) at \(f) fractional bits")
    }

    /// --narrow-ring needs calibration; with it most layers run in Z_2^32 (the
    /// disassembly marks them, the report lists each layer's ring and headroom), the
    /// trained MNIST model keeps its float accuracy in emulation, the bytes fall by
    /// about half, and three parties with exact truncations print the emulator's output.
    @Test func narrowRingKeepsMNISTAccuracy() throws {
        let mnist = "\(repositoryRoot)/Models/mnist_resnet"
        let directory = temporaryDirectory()
        let refused = try run("mpcc", ["\(mnist)/model.onnx", "--narrow-ring"])
        #expect(refused.status != 0 && refused.stderr.contains("--narrow-ring needs --calibration"))
        let arguments = ["\(mnist)/model.onnx", "--keep-maxpool", "--calibration", "\(mnist)/calibration.npy"]
        let report = try run("mpcc", arguments + ["--narrow-ring", "--emit", "report"])
        #expect(report.status == 0, "\(report.stderr)")
        #expect(report.stdout.contains("layers in Z_2^32") && report.stdout.contains("Z_2^32  headroom 3 bits"))
        var bytes: [Int] = []
        for (name, extra) in [("wide", [String]()), ("stochastic", ["--narrow-ring"]), ("narrow", ["--narrow-ring", "--exact-truncation"])] {
            let compiled = try run("mpcc", arguments + extra + ["-o", "\(directory)/\(name).mpcb"])
            #expect(compiled.status == 0, "\(compiled.stderr)")
            let predicted = try #require(compiled.stdout.firstMatch(of: /DReLUs, \d+ rounds, ([0-9.]+) MB online \+ ([0-9.]+) MB offline/))
            bytes.append(Int((Double(predicted.1)! + Double(predicted.2)!) * 1e6))
        }
        #expect(2 * bytes[1] < Int(1.1 * Double(bytes[0])), "narrow \(bytes[1]) B against \(bytes[0]) B")
        let program = "\(directory)/narrow.mpcb"
        #expect(try run("mpcr", ["inspect", program]).stdout.contains(" z32 "))
        let labels = ["--labels", "\(mnist)/test_labels.npy"]
        let float = try run("mpcc", ["\(mnist)/model.onnx", "--keep-maxpool", "--infer", "\(mnist)/test.npy"] + labels).stdout
        let emulated = try run("mpcr", ["emulate", program, "--input", "\(mnist)/test.npy"] + labels).stdout
        let accuracy = /accuracy: (\d+)\/(\d+)/
        #expect(try #require(float.firstMatch(of: accuracy)).1 == (try #require(emulated.firstMatch(of: accuracy))).1)
        let all = try NPYArray.read(path: "\(mnist)/test.npy")
        let input = "\(directory)/few.npy"
        try NPYArray(shape: [8] + all.shape.dropFirst(), float32: Array(all.floats.prefix(8 * 28 * 28))).write(path: input)
        #expect(try run("mpcr", ["emulate", program, "--input", input, "--output", "\(directory)/emulated.npy"]).status == 0)
        let local = try run("mpcr", ["local", program, "--input", input, "--output", "\(directory)/secure.npy"])
        #expect(local.status == 0, "\(local.stderr)")
        #expect(try NPYArray.read(path: "\(directory)/secure.npy").floats == NPYArray.read(path: "\(directory)/emulated.npy").floats)
    }
}
