import FloatEngine
import IR
import NPY
import ONNXFrontend
import TestSupport
import Testing

@testable import Passes

/// Engine output of `graph` on a fixture's input, and the fixture's reference output.
func evaluate(_ graph: Graph, fixture: String, reference: String? = nil) throws -> (output: Tensor, reference: Tensor) {
    let input = try NPYArray.read(path: modelsPath("\(fixture)/input.npy")).tensor
    let expected = try NPYArray.read(path: modelsPath("\(reference ?? fixture)/output.npy")).tensor
    return (try FloatEngine(graph: graph).runBatch(input)[0], expected)
}

func within(_ output: Tensor, _ reference: Tensor, relative tolerance: Float) -> (Bool, Float) {
    if reference.dtype == .i64 { return (output.ints == reference.ints, 0) }
    let scale = max(reference.floats.reduce(0) { max($0, abs($1)) }, 1e-6)
    let error = zip(output.floats, reference.floats).reduce(0) { max($0, abs($1.0 - $1.1)) }
    return (output.shape == reference.shape && error <= tolerance * scale, error / scale)
}

@Suite struct PassNumericTests {
    static let preserving = PassRegistry.defaultPipeline(keepReLU6: true, keepMaxPool: true)

    /// Each function-preserving pass alone, and all of them together, leave every
    /// fixture's output equal to onnxruntime's (float tolerance).
    @Test(arguments: allFixtures())
    func preservingPassesKeepTheFunction(_ fixture: String) throws {
        let imported = try importONNX(path: modelsPath("\(fixture)/model.onnx")).graph
        for passes in PassNumericTests.preserving.map({ [$0] }) + [PassNumericTests.preserving] {
            var graph = imported
            try PassManager(passes: passes).run(&graph)
            let (output, reference) = try evaluate(graph, fixture: fixture)
            let (ok, error) = within(output, reference, relative: 1e-4)
            #expect(ok, "\(fixture) after \(passes.map { $0.name }): relative error \(error)")
        }
    }

    @Test func defaultPipelineFoldsEveryBatchNorm() throws {
        for fixture in wholeModels {
            var graph = try importONNX(path: modelsPath("\(fixture)/model.onnx")).graph
            try PassManager(passes: PassRegistry.defaultPipeline()).run(&graph)
            let left = Set(graph.nodes.map { $0.op.mnemonic })
            #expect(left.isDisjoint(with: ["batch_norm", "identity", "relu6", "max_pool"]), "\(fixture) keeps \(left)")
        }
    }

    /// The accuracy-changing rewrites compute exactly the network exported with the
    /// replacement op (same weights): AvgPool for MaxPool, ReLU for ReLU6.
    @Test(arguments: [("tiny_resnet", "tiny_resnet_avgpool", MaxPoolToAvgPool.self as any Pass.Type), ("tiny_mobilenetv2", "tiny_mobilenetv2_relu", ReLU6ToReLU.self)])
    func rewritesMatchTheRewrittenExport(_ fixture: String, _ rewritten: String, _ pass: any Pass.Type) throws {
        var graph = try importONNX(path: modelsPath("\(fixture)/model.onnx")).graph
        try PassManager(passes: [pass]).run(&graph)
        let (output, reference) = try evaluate(graph, fixture: fixture, reference: rewritten)
        let (ok, error) = within(output, reference, relative: 1e-5)
        #expect(ok, "\(fixture) with \(pass.name) vs \(rewritten): relative error \(error)")
        // ... and the rewrite really changed the function.
        let original = try NPYArray.read(path: modelsPath("\(fixture)/output.npy")).tensor
        #expect(!within(output, original, relative: 1e-5).0)
    }
}

@Suite struct ParserRoundTripTests {
    /// print -> parse -> print is the identity on every fixture (constants in full).
    @Test(arguments: allFixtures())
    func roundTrips(_ fixture: String) throws {
        let graph = try importONNX(path: modelsPath("\(fixture)/model.onnx")).graph
        let printer = Printer(inlineConstantLimit: .max)
        let text = printer.print(graph)
        let parsed = try Parser().parse(text)
        #expect(printer.print(parsed) == text)
        #expect(parsed.nodes.map(\.op) == graph.nodes.map(\.op))
    }

    @Test(arguments: [
        "", "graph", "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%z) : f32[2]\n  return %y\n}",
        "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%x) : f32[3]\n  return %y\n}",
        "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = frobnicate(%x) : f32[2]\n  return %y\n}",
        "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %c = constant f32[2] {2 values}\n  %y = add(%x, %c) : f32[2]\n  return %y\n}",
        "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %c = constant f32[2] [1.0]\n  %y = add(%x, %c) : f32[2]\n  return %y\n}",
        "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%x) : f32[2]\n",
        "graph @\"unterminated(%x: f32[2])",
    ])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: IRError.self) { try Parser().parse(text) }
    }

    @Test func elidedConstantsNeedTheOption() throws {
        let text = "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %c = constant f32[2] {2 values}\n  %y = add(%x, %c) : f32[2]\n  return %y\n}\n"
        let graph = try Parser(fillElidedConstants: true).parse(text)
        #expect(graph.constants().values.first?.elementCount == 2)
    }
}
