import NPY
import TestSupport
import Testing

/// mpcc on .ir inputs (like mlir-opt), --list-passes and --print-pipeline.
@Suite struct IRInputCommandTests {
    /// Every pass case through the executable: `mpcc CASE.ir OPTIONS --emit ir` prints the
    /// case's expected section.
    @Test(arguments: PassCase.all())
    func passCaseThroughMPCC(_ name: String) throws {
        let passCase = try PassCase(name)
        let result = try run("mpcc", [passCase.path] + passCase.options + ["--emit", "ir"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == passCase.expected, "mpcc printed:\n\(result.stdout)")
        // Only the notes that an accuracy-changing rewrite changed the function.
        #expect(result.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("mpcc: note: ") && $0.contains("changes the network's function") }, "\(result.stderr)")
    }

    /// `--emit ir --full-constants` writes text that compiles to the same program and
    /// weights as the ONNX model it came from (the trained MNIST model, every weight).
    @Test func fullConstantsRoundTripAWholeModel() throws {
        let directory = temporaryDirectory()
        let onnx = "\(repositoryRoot)/Models/mnist_resnet/model.onnx"
        let text = try run("mpcc", [onnx, "--keep-maxpool", "--emit", "ir", "--full-constants"])
        #expect(text.status == 0 && !text.stdout.contains(" values}"), "\(text.stderr)")
        writeFile("\(directory)/mnist.ir", Array(text.stdout.utf8))
        #expect(try run("mpcc", ["\(directory)/mnist.ir", "--passes", "", "-o", "\(directory)/from_ir.mpcb"]).status == 0)
        #expect(try run("mpcc", [onnx, "--keep-maxpool", "-o", "\(directory)/from_onnx.mpcb"]).status == 0)
        for suffix in ["mpcb", "mpcw"] {
            #expect(readFile("\(directory)/from_ir.\(suffix)") == readFile("\(directory)/from_onnx.\(suffix)"), "the .\(suffix) files differ")
        }
    }

    /// The stages after the passes take an .ir input as they take ONNX: bytecode, asm, --infer.
    @Test func irInputCompilesAndInfers() throws {
        let directory = temporaryDirectory()
        let model = try PassCase("pipeline/default.ir").path
        let compiled = try run("mpcc", [model, "-o", "\(directory)/net.mpcb"])
        #expect(compiled.status == 0, "\(compiled.stderr)")
        #expect(fileExists("\(directory)/net.mpcb") && fileExists("\(directory)/net.mpcw"))
        // Without -o the program goes beside the model, named after it.
        let copy = "\(directory)/copy.ir"
        writeFile(copy, try #require(readFile(model)))
        let beside = try run("mpcc", [copy])
        #expect(beside.status == 0 && beside.stdout.hasPrefix("wrote \(directory)/copy.mpcb "), "\(beside.stdout)\(beside.stderr)")
        #expect(fileExists("\(directory)/copy.mpcw"))
        let asm = try run("mpcc", [model, "--emit", "asm"])
        #expect(asm.status == 0 && asm.stdout.contains("= conv %") && asm.stdout.contains("= relu %"), "\(asm.stderr)")
        // The network is a 1x1 conv, ReLU6 (ReLU after the default passes) and pooling:
        // on a constant input of 1, channel 0 gives relu(1 * 1 + 0.5) = 1.5, channel 1
        // relu(-1 * 1 - 2) = 0.
        try NPYArray(shape: [1, 1, 4, 4], float32: Array(repeating: 1, count: 16)).write(path: "\(directory)/x.npy")
        let inferred = try run("mpcc", [model, "--infer", "\(directory)/x.npy", "-o", "\(directory)/y.npy"])
        #expect(inferred.status == 0, "\(inferred.stderr)")
        let output = try NPYArray.read(path: "\(directory)/y.npy")
        #expect(output.shape == [1, 2, 2, 2] && output.floats == [1.5, 1.5, 1.5, 1.5, 0, 0, 0, 0])
    }

    @Test(arguments: [
        ("graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%q) : f32[2]\n  return %y\n}\n", "line 2: %q is used before it is defined"),
        ("graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%x : f32[2]\n  return %y\n}\n", "line 2: expected '%'"),
        ("graph @g(%x: f32[2]) -> (%y: f32[3]) {\n  %y = relu(%x) : f32[3]\n  return %y\n}\n", "relu gives f32[2]"),
        ("graph @g(%x: f32[8]) -> (%y: f32[8]) {\n  %w = constant f32[8] {8 values}\n  %y = add(%x, %w) : f32[8]\n  return %y\n}\n", "has no data"),
        ("not IR at all", "line 1: expected 'graph'"),
    ])
    func malformedIRExitsOneWithOneSentence(_ text: String, _ fragment: String) throws {
        let path = "\(temporaryDirectory())/bad.ir"
        writeFile(path, Array(text.utf8))
        let result = try run("mpcc", [path, "--emit", "ir"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("mpcc: error: \(path) is not valid mpcc IR: "), "\(result.stderr)")
        #expect(result.stderr.contains(fragment), "\(result.stderr)")
    }

    @Test func unreadableIRExitsOne() throws {
        let missing = try run("mpcc", ["/nonexistent/model.ir", "--emit", "ir"])
        #expect(missing.status == 1 && missing.stderr == "mpcc: error: cannot read /nonexistent/model.ir\n")
        let path = "\(temporaryDirectory())/binary.ir"
        writeFile(path, [0x08, 0xFF, 0xFE, 0x00])
        let binary = try run("mpcc", [path])
        #expect(binary.status == 1 && binary.stderr == "mpcc: error: \(path) is not UTF-8 text\n")
    }

    @Test func listPassesNeedsNoModel() throws {
        let result = try run("mpcc", ["--list-passes"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        let names = ["fold-constants", "remove-identity", "fold-batchnorm", "fold-scale-shift", "argmax-of-logits", "relu6-to-relu", "maxpool-to-avgpool"]
        #expect(lines.map { String($0.prefix { $0 != " " }) } == names)
        for line in lines {
            let changes = line.hasPrefix("relu6-to-relu") || line.hasPrefix("maxpool-to-avgpool")
            #expect(line.contains(changes ? "changes the function" : "keeps the function"), "\(line)")
        }
    }

    /// What --print-pipeline prints, given back to --passes, gives the same IR.
    @Test(arguments: [[], ["--keep-relu6"], ["--keep-maxpool", "--keep-relu6"], ["--passes", "fold-batchnorm, remove-identity"], ["--passes", ""]])
    func printPipelineReadsBack(_ options: [String]) throws {
        let printed = try run("mpcc", ["--print-pipeline"] + options)
        #expect(printed.status == 0, "\(printed.stderr)")
        let pipeline = String(printed.stdout.dropLast())
        #expect(printed.stdout == pipeline + "\n" && !pipeline.contains(" "))
        let direct = try run("mpcc", [model("tiny_resnet"), "--emit", "ir"] + options)
        let replayed = try run("mpcc", [model("tiny_resnet"), "--emit", "ir", "--passes", pipeline])
        #expect(direct.status == 0 && replayed.status == 0)
        #expect(direct.stdout == replayed.stdout)
    }

    @Test func printPipelineDoesNotReadTheModel() throws {
        let result = try run("mpcc", ["/nonexistent/model.onnx", "--print-pipeline", "--keep-maxpool"])
        #expect(result.status == 0)
        #expect(result.stdout == "fold-constants,remove-identity,fold-batchnorm,fold-scale-shift,argmax-of-logits,relu6-to-relu\n")
        let unknown = try run("mpcc", ["--print-pipeline", "--passes", "fold-everything"])
        #expect(unknown.status == 1 && unknown.stderr.hasPrefix("mpcc: error: unknown pass 'fold-everything'"))
    }

    @Test func otherCommandsNeedAModel() throws {
        for arguments in [[], ["--emit", "ir"], ["--keep-relu6"]] {
            let result = try run("mpcc", arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr.hasPrefix("mpcc: error: give a model (.onnx or .ir)"), "\(result.stderr)")
        }
        let help = try run("mpcc", ["--help"])
        for text in ["--list-passes", "--print-pipeline", ".ir"] { #expect(help.stdout.contains(text), "help lacks \(text)") }
    }
}
