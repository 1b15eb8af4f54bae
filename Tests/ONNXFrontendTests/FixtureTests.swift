import IR
import NPY
import TestSupport
import Testing

@testable import ONNXFrontend

/// Op histogram of an imported graph, e.g. ["conv": 3, "relu": 2].
func histogram(_ graph: Graph) -> [String: Int] {
    var counts: [String: Int] = [:]
    for node in graph.nodes { counts[node.op.mnemonic, default: 0] += 1 }
    return counts
}

/// The per-inference shape of a fixture array: a leading batch N becomes 1.
func perInferenceShape(_ shape: [Int]) -> [Int] {
    shape.isEmpty ? shape : [1] + shape.dropFirst()
}

@Suite struct WholeModelTests {
    /// What each whole model must import to (op counts of the IR, before any pass).
    static let expectedOps: [String: [String: Int]] = [
        "tiny_resnet": [
            "conv": 6, "batch_norm": 6, "relu": 5, "max_pool": 1, "add": 2, "global_avg_pool": 1, "reshape": 1, "dense": 1,
        ],
        "tiny_mobilenetv2": ["conv": 10, "batch_norm": 10, "relu6": 7, "add": 2, "global_avg_pool": 1, "reshape": 1, "dense": 1],
        "odd_shapes": [
            "conv": 5, "relu": 5, "max_pool": 1, "avg_pool": 1, "concat": 1, "resize": 1, "reshape": 1, "dense": 1,
        ],
        "tiny_segnet": ["conv": 5, "relu": 4, "resize": 2, "add": 1],
        "dynamo_external": ["conv": 2, "relu": 2, "max_pool": 1, "global_avg_pool": 1, "reshape": 1, "dense": 1],
        "tiny_resnet_avgpool": [
            "conv": 6, "batch_norm": 6, "relu": 5, "avg_pool": 1, "add": 2, "global_avg_pool": 1, "reshape": 1, "dense": 1,
        ],
        "tiny_mobilenetv2_relu": ["conv": 10, "batch_norm": 10, "relu": 7, "add": 2, "global_avg_pool": 1, "reshape": 1, "dense": 1],
        "shufflenet_block": ["conv": 3, "batch_norm": 3, "relu": 2, "slice": 2, "concat": 1, "reshape": 2, "transpose": 1],
        "opset9_legacy": ["conv": 3, "batch_norm": 2, "relu": 3, "max_pool": 1, "resize": 1, "reshape": 1, "dense": 1],
        "tiny_deeplab": [
            "conv": 13, "batch_norm": 12, "relu": 11, "add": 2, "global_avg_pool": 1, "resize": 2, "concat": 1, "argmax": 1,
        ],
        "tiny_deeplab_mobilenetv2": [
            "conv": 22, "batch_norm": 21, "relu": 6, "relu6": 10, "add": 3, "global_avg_pool": 1, "resize": 2, "concat": 1, "argmax": 1,
        ],
        // HardSigmoid = mul (alpha) + add (beta) + clip 0..1; HardSwish adds the product
        // with its input (a second mul); the squeeze-excitation gate is one more mul.
        "tiny_se_resnet": [
            "conv": 10, "batch_norm": 6, "relu": 7, "max_pool": 1, "global_avg_pool": 3, "clip": 2, "mul": 4, "add": 4, "reshape": 1, "dense": 1,
        ],
        "tiny_mobilenetv3": [
            "conv": 22, "batch_norm": 16, "relu": 8, "global_avg_pool": 4, "clip": 10, "mul": 20, "add": 12, "reshape": 1, "dense": 2,
        ],
        "tiny_lraspp": ["conv": 18, "batch_norm": 11, "relu": 6, "global_avg_pool": 3, "clip": 7, "mul": 14, "add": 9, "resize": 2],
    ]

    @Test(arguments: wholeModels)
    func importsWithExpectedOpsAndShapes(_ name: String) throws {
        let model = try importONNX(path: modelsPath("\(name)/model.onnx"))
        var ops = histogram(model.graph)
        ops["constant"] = nil
        #expect(ops == WholeModelTests.expectedOps[name], "op counts of \(name)")

        let input = try NPYArray.read(path: modelsPath("\(name)/input.npy"))
        let output = try NPYArray.read(path: modelsPath("\(name)/output.npy"))
        #expect(model.graph.inputs.count == 1 && model.graph.outputs.count == 1)
        #expect(model.graph.type(of: model.graph.inputs[0]).shape == perInferenceShape(input.shape))
        #expect(model.graph.type(of: model.graph.outputs[0]).shape == perInferenceShape(output.shape))
        try Verifier.verify(model.graph)
    }

    @Test func dynamoExportKeepsWeightsInExternalData() throws {
        // The fixture must really use external data, or this test proves nothing.
        let onnxSize = readFile(modelsPath("dynamo_external/model.onnx"))!.count
        let dataSize = readFile(modelsPath("dynamo_external/model.onnx.data"))!.count
        #expect(dataSize > onnxSize)
        let model = try importONNX(path: modelsPath("dynamo_external/model.onnx"))
        let weights = model.graph.nodes.compactMap { node -> Tensor? in
            if case .constant(let tensor) = node.op { return tensor }
            return nil
        }
        #expect(weights.map(\.elementCount).reduce(0, +) * 4 >= dataSize / 2)
        #expect(weights.allSatisfy { $0.floats.contains { $0 != 0 } })
    }

    @Test func resnetFlattenChainIsFolded() throws {
        // `x.view(x.size(0), -1)` exports as Shape/Gather/Unsqueeze/Concat/Reshape.
        let model = try importONNX(path: modelsPath("tiny_resnet/model.onnx"))
        let reshape = try #require(model.graph.nodes.first { $0.op.mnemonic == "reshape" })
        #expect(reshape.op == .reshape(shape: [1, 16]))
    }

    @Test func batchSizeOptionSizesTheSymbolicBatch() throws {
        let model = try importONNX(path: modelsPath("tiny_resnet/model.onnx"), options: ImportOptions(batchSize: 3))
        #expect(model.graph.type(of: model.graph.inputs[0]).shape == [3, 3, 32, 32])
        #expect(model.graph.type(of: model.graph.outputs[0]).shape == [3, 10])
    }
}

@Suite struct OpFixtureTests {
    @Test func fixturesExist() {
        #expect(opFixtures().count >= 60)
    }

    @Test(arguments: opFixtures())
    func importsWithReferenceShape(_ name: String) throws {
        let model = try importONNX(path: modelsPath("ops/\(name)/model.onnx"))
        try Verifier.verify(model.graph)
        let output = try NPYArray.read(path: modelsPath("ops/\(name)/output.npy"))
        let result = model.graph.type(of: model.graph.outputs[0])
        #expect(result.shape == output.shape, "\(name): IR output \(result) vs reference \(output.shape)")
        if case .int64 = output.data { #expect(result.dtype == .i64) } else { #expect(result.dtype == .f32) }
    }
}

@Suite struct GoldenIRTests {
    static let fixtures = allFixtures()

    /// The printed IR of every fixture must match IR/golden/<fixture>.ir. Regenerate with
    /// `MPCC_UPDATE_GOLDEN=1 swift test --filter GoldenIRTests` after a deliberate change.
    @Test(arguments: fixtures)
    func matchesGolden(_ fixture: String) throws {
        let model = try importONNX(path: modelsPath("\(fixture)/model.onnx"))
        // Keep the graph name stable across exporter versions.
        var graph = model.graph
        graph.name = fixture
        let text = Printer().print(graph)
        let path = "\(repositoryRoot)/IR/golden/\(fixture).ir"
        if getenvString("MPCC_UPDATE_GOLDEN") != nil {
            makeDirectories(String(path[..<path.lastIndex(of: "/")!]))
            writeFile(path, Array(text.utf8))
            return
        }
        let golden = try #require(readFile(path), "missing golden file \(path)")
        let expected = String(decoding: golden, as: UTF8.self)
        if text != expected {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let goldenLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let first = (0..<min(lines.count, goldenLines.count)).first { lines[$0] != goldenLines[$0] } ?? min(lines.count, goldenLines.count)
            let got = first < lines.count ? String(lines[first]) : "<end>"
            let want = first < goldenLines.count ? String(goldenLines[first]) : "<end>"
            Issue.record("IR of \(fixture) differs from \(path) at line \(first + 1):\n got: \(got)\nwant: \(want)")
        }
    }
}
