import IR
import TestSupport
import Testing

@testable import ONNXFrontend

/// Imports `bytes` from a scratch file; returns the error message, or nil on success.
/// Any error other than ImportError is a bug (as is a crash, which stops the run).
func importMessage(_ bytes: [UInt8], directory: String, name: String = "model.onnx") -> String? {
    let path = "\(directory)/\(name)"
    writeFile(path, bytes)
    do {
        _ = try importONNX(path: path)
        return nil
    } catch let error as ImportError {
        return error.message
    } catch {
        Issue.record("import threw \(type(of: error)) instead of ImportError: \(error)")
        return "\(error)"
    }
}

@Suite struct CorruptedFileTests {
    @Test(arguments: wholeModels.filter { $0 != "dynamo_external" })
    func truncatedFilesFailCleanly(_ name: String) throws {
        let bytes = try #require(readFile(modelsPath("\(name)/model.onnx")))
        let directory = temporaryDirectory()
        var failures = 0
        var cuts = Set((1..<200).map { bytes.count * $0 / 200 })
        cuts.formUnion([0, 1, 2, 3, 7, bytes.count - 1, bytes.count - 2])
        for cut in cuts.sorted() {
            if let message = importMessage(Array(bytes[..<cut]), directory: directory) {
                failures += 1
                #expect(!message.isEmpty && !message.contains("\n"), "one sentence: \(message)")
            }
        }
        // Cutting inside the graph always breaks it; only cuts in trailing metadata may pass.
        #expect(failures >= cuts.count * 9 / 10)
    }

    @Test(arguments: wholeModels)
    func bitFlippedFilesNeverCrash(_ name: String) throws {
        let bytes = try #require(readFile(modelsPath("\(name)/model.onnx")))
        let directory = temporaryDirectory()
        if name == "dynamo_external" {
            writeFile("\(directory)/model.onnx.data", readFile(modelsPath("dynamo_external/model.onnx.data"))!)
        }
        var generator = SeededGenerator(state: UInt64(bytes.count))
        var failures = 0
        for _ in 0..<400 {
            var mutated = bytes
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let position = Int.random(in: 0..<mutated.count, using: &generator)
                mutated[position] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
            }
            if let message = importMessage(mutated, directory: directory) {
                failures += 1
                #expect(!message.contains("\n"))
            }
        }
        // Flips in weight bytes still import; flips in structure must fail cleanly.
        #expect(failures > 0)
    }

    @Test func nonProtobufFilesFailCleanly() throws {
        let directory = temporaryDirectory()
        #expect(importMessage([], directory: directory)?.contains("empty") == true)
        #expect(importMessage(Array("this is not a model\n".utf8), directory: directory) != nil)
        #expect(importMessage([UInt8](repeating: 0xFF, count: 64), directory: directory) != nil)
        #expect(importMessage(Array(repeating: 0, count: 16), directory: directory) != nil)
    }

    @Test func missingFileFailsCleanly() {
        #expect(throws: ImportError.self) { try importONNX(path: "/nonexistent/model.onnx") }
        #expect(throws: ImportError.self) { try importONNX(path: "/tmp") }
    }
}

@Suite struct ExternalDataTests {
    func copyFixture(dataBytes: [UInt8]?) -> String {
        let directory = temporaryDirectory()
        writeFile("\(directory)/model.onnx", readFile(modelsPath("dynamo_external/model.onnx"))!)
        if let dataBytes { writeFile("\(directory)/model.onnx.data", dataBytes) }
        return directory
    }

    @Test func missingDataFileFailsCleanly() throws {
        let directory = copyFixture(dataBytes: nil)
        let error = try #require(throws: ImportError.self) { try importONNX(path: "\(directory)/model.onnx") }
        #expect(error.message.contains("model.onnx.data"))
    }

    @Test func truncatedDataFileFailsCleanly() throws {
        let data = readFile(modelsPath("dynamo_external/model.onnx.data"))!
        let directory = copyFixture(dataBytes: Array(data.prefix(data.count / 2)))
        let error = try #require(throws: ImportError.self) { try importONNX(path: "\(directory)/model.onnx") }
        #expect(error.message.contains("bytes"))
    }

    @Test func locationOutsideTheModelDirectoryIsRefused() throws {
        let directory = temporaryDirectory()
        var tensor = ProtoWriter()
        for dim in [2] { tensor.varint(1, UInt64(dim)) }
        tensor.varint(2, 1)
        tensor.string(8, "w")
        var entry = ProtoWriter()
        entry.string(1, "location")
        entry.string(2, "../../etc/passwd")
        tensor.message(13, entry)
        tensor.varint(14, 1)
        let bytes = ONNXWriter.model(
            nodes: [ONNXWriter.node("Add", ["x", "w"], ["y"], name: "add")], initializers: [tensor],
            inputs: [ONNXWriter.valueInfo("x", dims: [.size(2)])], outputs: [ONNXWriter.valueInfo("y", dims: [.size(2)])])
        #expect(importMessage(bytes, directory: directory)?.contains("outside the model's directory") == true)
    }
}

@Suite struct UnsupportedModelTests {
    @Test func everyUnsupportedOpIsNamedWithItsNodes() throws {
        let error = try #require(throws: ImportError.self) {
            try importONNX(path: modelsPath("unsupported/sigmoid_and_lstm.onnx"))
        }
        let types = Set(error.unsupported.map(\.opType))
        #expect(types.contains("Sigmoid"))
        #expect(error.message.contains("sig_a") && error.message.contains("sig_b"))
        #expect(error.unsupported.count >= 3)
        for node in error.unsupported { #expect(error.message.contains(node.nodeName)) }
        #expect(!error.message.contains("\n"))
    }

    /// Many nodes of one type: a count and the first two names; uses that are not
    /// supported are grouped by reason; every blocker is in the one message.
    @Test func manyNodesAreCountedAndUsesGroupedByReason() throws {
        let input = ONNXWriter.valueInfo("x", dims: [.size(1), .size(2)])
        var nodes = (0..<5).map { ONNXWriter.node("Sigmoid", [$0 == 0 ? "x" : "s\($0 - 1)"], ["s\($0)"], name: "sig_\($0)") }
        nodes.append(ONNXWriter.node("Relu", ["x"], ["r"], name: "relu"))
        // div_2 divides by an unsupported op's output: still computed, still reported.
        nodes += (0..<3).map { ONNXWriter.node("Div", ["x", $0 == 2 ? "s0" : "r"], ["d\($0)"], name: "div_\($0)") }
        nodes.append(ONNXWriter.node("Tanh", ["x"], ["t"], name: "tanh_1"))
        nodes.append(ONNXWriter.node("Sum", ["t", "s4", "d0", "d1", "d2"], ["y"], name: "sum"))
        let bytes = ONNXWriter.model(nodes: nodes, inputs: [input], outputs: [ONNXWriter.valueInfo("y", dims: nil)])
        let message = try #require(importMessage(bytes, directory: temporaryDirectory()))
        let sigmoid = "no secure protocol; --approx-sigmoid uses a piecewise-linear approximation within 0.0042 of it (10 comparisons per element)"
        #expect(message.hasSuffix("uses operators that mpcc does not support: Sigmoid (5 nodes, first: sig_0, sig_1: \(sigmoid)), "
            + "Div (3 nodes, first: div_0, div_1: the divisor is computed), Tanh (node tanh_1)"), "\(message)")
    }

    @Test(arguments: [
        ("div_two_activations.onnx", "Div", "the divisor is computed"),
        ("hardswish_convtranspose.onnx", "ConvTranspose", "deconv_1"),
        ("pad_reflect.onnx", "Pad", "reflect"),
        ("maxpool_indices.onnx", "MaxPool", "Indices"),
    ])
    func unsupportedUsesAreExplained(_ file: String, _ opType: String, _ reason: String) throws {
        let error = try #require(throws: ImportError.self) { try importONNX(path: modelsPath("unsupported/\(file)")) }
        #expect(error.unsupported.first?.opType == opType)
        #expect(error.message.contains(reason), "\(error.message)")
    }

    @Test func customDomainsAreUnsupported() throws {
        var node = ONNXWriter.node("FusedConv", ["x"], ["y"], name: "fused")
        node.string(7, "com.microsoft")
        let bytes = ONNXWriter.model(
            nodes: [node], inputs: [ONNXWriter.valueInfo("x", dims: [.size(1)])], outputs: [ONNXWriter.valueInfo("y", dims: nil)])
        let message = importMessage(bytes, directory: temporaryDirectory())
        #expect(message?.contains("com.microsoft.FusedConv (node fused)") == true)
    }
}

@Suite struct GraphStructureTests {
    let input = ONNXWriter.valueInfo("x", dims: [.symbol("N"), .size(2), .size(3), .size(3)])
    let output = ONNXWriter.valueInfo("y", dims: nil)

    @Test func undefinedInputNameIsAnError() {
        let bytes = ONNXWriter.model(nodes: [ONNXWriter.node("Relu", ["nope"], ["y"], name: "r")], inputs: [input], outputs: [output])
        #expect(importMessage(bytes, directory: temporaryDirectory())?.contains("'nope'") == true)
    }

    @Test func duplicateDefinitionIsAnError() {
        let nodes = [ONNXWriter.node("Relu", ["x"], ["y"], name: "a"), ONNXWriter.node("Relu", ["x"], ["y"], name: "b")]
        let bytes = ONNXWriter.model(nodes: nodes, inputs: [input], outputs: [output])
        #expect(importMessage(bytes, directory: temporaryDirectory())?.contains("defined twice") == true)
    }

    @Test func missingOrUnknownOpsetIsAnError() {
        let nodes = [ONNXWriter.node("Relu", ["x"], ["y"], name: "r")]
        let none = ONNXWriter.model(opset: nil, nodes: nodes, inputs: [input], outputs: [output])
        #expect(importMessage(none, directory: temporaryDirectory())?.contains("opset") == true)
        let future = ONNXWriter.model(opset: 99, nodes: nodes, inputs: [input], outputs: [output])
        #expect(importMessage(future, directory: temporaryDirectory())?.contains("opset 99") == true)
    }

    @Test func symbolicSpatialDimensionIsAnError() {
        let dynamic = ONNXWriter.valueInfo("x", dims: [.size(1), .size(2), .symbol("H"), .size(3)])
        let bytes = ONNXWriter.model(nodes: [ONNXWriter.node("Relu", ["x"], ["y"], name: "r")], inputs: [dynamic], outputs: [output])
        #expect(importMessage(bytes, directory: temporaryDirectory())?.contains("axis 2") == true)
    }

    @Test func declaredOutputShapeMustMatch() {
        let wrong = ONNXWriter.valueInfo("y", dims: [.symbol("N"), .size(2), .size(4), .size(3)])
        let bytes = ONNXWriter.model(nodes: [ONNXWriter.node("Relu", ["x"], ["y"], name: "r")], inputs: [input], outputs: [wrong])
        #expect(importMessage(bytes, directory: temporaryDirectory())?.contains("declared with shape") == true)
    }

    @Test func shapeMismatchNamesTheNode() {
        let weight = ONNXWriter.tensor("w", dims: [4, 5, 1, 1], floats: Array(repeating: 0.5, count: 20))
        let bytes = ONNXWriter.model(
            nodes: [ONNXWriter.node("Conv", ["x", "w"], ["y"], name: "bad_conv")], initializers: [weight], inputs: [input],
            outputs: [output])
        let message = importMessage(bytes, directory: temporaryDirectory())
        #expect(message?.contains("bad_conv") == true && message?.contains("group") == true)
    }

    @Test func importedGraphDropsDeadNodes() throws {
        let nodes = [ONNXWriter.node("Relu", ["x"], ["y"], name: "live"), ONNXWriter.node("Relu", ["x"], ["dead"], name: "dead")]
        let directory = temporaryDirectory()
        let path = "\(directory)/model.onnx"
        writeFile(path, ONNXWriter.model(nodes: nodes, inputs: [input], outputs: [output]))
        let graph = try importONNX(path: path).graph
        #expect(graph.nodes.map(\.name) == ["live"])
        #expect(graph.type(of: graph.outputs[0]).shape == [1, 2, 3, 3])
    }

    @Test func typedInt64InitializerDrivesReshape() throws {
        let shape = ONNXWriter.tensor("shape", dims: [2], ints: [0, -1])
        let directory = temporaryDirectory()
        let path = "\(directory)/model.onnx"
        writeFile(path, ONNXWriter.model(nodes: [ONNXWriter.node("Reshape", ["x", "shape"], ["y"], name: "flat")], initializers: [shape], inputs: [input], outputs: [output]))
        let graph = try importONNX(path: path).graph
        #expect(graph.nodes.last?.op == .reshape(shape: [1, 18]))
    }

    /// `torch.onnx.export(model, torch.randn(2, ...))` fixes the batch at 2: the graph
    /// becomes one inference, shape attributes included.
    @Test func fixedExportedBatchBecomesOneInference() throws {
        let batched = ONNXWriter.valueInfo("x", dims: [.size(2), .size(2), .size(3), .size(3)])
        let shape = ONNXWriter.tensor("shape", dims: [2], ints: [2, 18])
        let nodes = [ONNXWriter.node("Relu", ["x"], ["r"], name: "relu"), ONNXWriter.node("Reshape", ["r", "shape"], ["y"], name: "flat")]
        let directory = temporaryDirectory()
        let path = "\(directory)/model.onnx"
        writeFile(path, ONNXWriter.model(nodes: nodes, initializers: [shape], inputs: [batched], outputs: [output]))
        let model = try importONNX(path: path)
        #expect(model.exportedBatch == 2)
        #expect(model.graph.type(of: model.graph.inputs[0]).shape == [1, 2, 3, 3])
        #expect(model.graph.nodes.last?.op == .reshape(shape: [1, 18]))
    }

    /// A classifier exported with a fixed batch and a final ArgMax without keepdims: its
    /// output [2] is rank 1, and it still becomes one inference.
    @Test func fixedBatchEndingInArgMaxBecomesOneInference() throws {
        let batched = ONNXWriter.valueInfo("x", dims: [.size(2), .size(5)])
        let nodes = [
            ONNXWriter.node("Relu", ["x"], ["r"], name: "relu"),
            ONNXWriter.node("ArgMax", ["r"], ["y"], name: "classes", ["axis": .int(1), "keepdims": .int(0)]),
        ]
        let directory = temporaryDirectory()
        let path = "\(directory)/model.onnx"
        writeFile(path, ONNXWriter.model(nodes: nodes, inputs: [batched], outputs: [ONNXWriter.valueInfo("y", elementType: 7, dims: nil)]))
        let model = try importONNX(path: path)
        #expect(model.exportedBatch == 2)
        #expect(model.graph.type(of: model.graph.inputs[0]).shape == [1, 5])
        #expect(model.graph.type(of: model.graph.outputs[0]).shape == [1])
    }

    /// A fixed batch the graph mixes (here a reshape that folds it away) cannot become one
    /// inference: the message says so and what to do.
    @Test func fixedBatchThatIsMixedIsRefused() {
        let batched = ONNXWriter.valueInfo("x", dims: [.size(2), .size(2), .size(3), .size(3)])
        let shape = ONNXWriter.tensor("shape", dims: [3], ints: [2, 1, 18])
        let flat = ONNXWriter.tensor("flat", dims: [2], ints: [1, 36])
        let back = ONNXWriter.tensor("back", dims: [3], ints: [2, 1, 18])
        let nodes = [
            ONNXWriter.node("Reshape", ["x", "flat"], ["f"], name: "fold"), ONNXWriter.node("Relu", ["f"], ["r"], name: "relu"),
            ONNXWriter.node("Reshape", ["r", "back"], ["y"], name: "unfold"),
        ]
        let bytes = ONNXWriter.model(nodes: nodes, initializers: [shape, flat, back], inputs: [batched], outputs: [output])
        let message = importMessage(bytes, directory: temporaryDirectory())
        #expect(message?.contains("fixed batch of 2") == true && message?.contains("dynamic batch axis") == true)
    }
}

/// Attribute and initializer values chosen to overflow arithmetic or float-to-int
/// conversions: each must end in a clean error (or a valid import), never a trap.
@Suite struct HostileValueTests {
    let input = ONNXWriter.valueInfo("x", dims: [.size(1), .size(2), .size(4), .size(4)])
    let output = ONNXWriter.valueInfo("y", dims: nil)

    func check(_ nodes: [ProtoWriter], _ initializers: [ProtoWriter], opset: Int = 13) {
        let bytes = ONNXWriter.model(opset: opset, nodes: nodes, initializers: initializers, inputs: [input], outputs: [output])
        _ = importMessage(bytes, directory: temporaryDirectory())
    }

    @Test func resizeScalesThatDoNotFitAnInteger() {
        for scale: Float in [1e30, .infinity, .nan, -2, 0] {
            let scales = ONNXWriter.tensor("scales", dims: [4], floats: [1, 1, scale, 2])
            check([ONNXWriter.node("Resize", ["x", "", "scales"], ["y"], name: "r")], [scales])
        }
    }

    @Test func sliceStepsAndBoundsAtTheLimits() {
        for (start, end, step) in [(Int64.min, Int64.max, Int64.max), (Int64.max, Int64.min, Int64.min + 1), (0, 4, Int64.min)] {
            let starts = ONNXWriter.tensor("s", dims: [1], ints: [start]), ends = ONNXWriter.tensor("e", dims: [1], ints: [end])
            let axes = ONNXWriter.tensor("a", dims: [1], ints: [2]), steps = ONNXWriter.tensor("t", dims: [1], ints: [step])
            check([ONNXWriter.node("Slice", ["x", "s", "e", "a", "t"], ["y"], name: "s")], [starts, ends, axes, steps])
        }
    }

    @Test func integerFoldingOverflows() {
        let a = ONNXWriter.tensor("a", dims: [1], ints: [Int64.min]), b = ONNXWriter.tensor("b", dims: [1], ints: [-1])
        check([ONNXWriter.node("Div", ["a", "b"], ["q"], name: "d"), ONNXWriter.node("Reshape", ["x", "q"], ["y"], name: "r")], [a, b])
        let start = ONNXWriter.tensor("start", dims: [], ints: [Int64.min]), limit = ONNXWriter.tensor("limit", dims: [], ints: [Int64.max])
        let delta = ONNXWriter.tensor("delta", dims: [], ints: [1])
        check([ONNXWriter.node("Range", ["start", "limit", "delta"], ["q"], name: "range"), ONNXWriter.node("Reshape", ["x", "q"], ["y"], name: "r")], [start, limit, delta])
        let fStart = ONNXWriter.tensor("fs", dims: [], floats: [0]), fLimit = ONNXWriter.tensor("fl", dims: [], floats: [1e30])
        let fDelta = ONNXWriter.tensor("fd", dims: [], floats: [1e-30])
        check([ONNXWriter.node("Range", ["fs", "fl", "fd"], ["q"], name: "range"), ONNXWriter.node("Add", ["x", "q"], ["y"], name: "a")], [fStart, fLimit, fDelta])
    }

    @Test func splitAndPadSizesAtTheLimits() {
        let split = ONNXWriter.tensor("split", dims: [2], ints: [Int64.max, Int64.max])
        check([ONNXWriter.node("Split", ["x", "split"], ["y", "z"], name: "s", ["axis": .int(1)])], [split])
        let pads = ONNXWriter.tensor("pads", dims: [8], ints: [0, 0, Int64.max, 0, 0, 0, Int64.min, 0])
        check([ONNXWriter.node("Pad", ["x", "pads"], ["y"], name: "p")], [pads])
        check([ONNXWriter.node("MaxPool", ["x"], ["y"], name: "m", ["kernel_shape": .ints([Int.max, 2]), "strides": .ints([1, 1])])], [])
        check([ONNXWriter.node("Conv", ["x", "w"], ["y"], name: "c", ["pads": .ints([Int.max, 0, 0, 0])])], [ONNXWriter.tensor("w", dims: [1, 2, 1, 1], floats: [1, 1])])
        let shape = ONNXWriter.tensor("shape", dims: [2], ints: [Int64.max, Int64.max])
        check([ONNXWriter.node("ConstantOfShape", ["shape"], ["q"], name: "c"), ONNXWriter.node("Add", ["x", "q"], ["y"], name: "a")], [shape])
        let expand = ONNXWriter.tensor("e", dims: [3], ints: [1 << 20, 1 << 20, 1 << 20])
        check([ONNXWriter.node("Expand", ["one", "e"], ["q"], name: "x"), ONNXWriter.node("Add", ["x", "q"], ["y"], name: "a")], [expand, ONNXWriter.tensor("one", dims: [1], floats: [1])])
    }
}
