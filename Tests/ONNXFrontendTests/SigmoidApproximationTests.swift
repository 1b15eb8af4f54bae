import FloatEngine
import Foundation
import IR
import Lowering
import MPCRuntime
import Passes
import TestSupport
import Testing

@testable import ONNXFrontend

/// --approx-sigmoid: Sigmoid is refused without it (the message names the flag, its error
/// and cost), and with it becomes the piecewise-linear approximation, within its stated
/// error of the sigmoid, which SiLU (x * sigmoid(x)) computes through the secure product
/// with the three parties equal to the emulator.
@Suite struct SigmoidApproximationTests {
    /// input [1,2,3,5] -> Sigmoid -> Mul(input, sigmoid): SiLU.
    func siluModel() -> String {
        let nodes = [ONNXWriter.node("Sigmoid", ["x"], ["s"], name: "sig"), ONNXWriter.node("Mul", ["x", "s"], ["y"], name: "silu")]
        let bytes = ONNXWriter.model(
            nodes: nodes, inputs: [ONNXWriter.valueInfo("x", dims: [.size(1), .size(2), .size(3), .size(5)])],
            outputs: [ONNXWriter.valueInfo("y", dims: nil)])
        let path = temporaryDirectory() + "/silu.onnx"
        writeFile(path, bytes)
        return path
    }

    @Test func theApproximationIsWithinItsStatedError() {
        #expect(SigmoidApproximation.maxError > 0.004 && SigmoidApproximation.maxError < 0.0043)
        #expect(SigmoidApproximation.comparisons == 10)
        for x in stride(from: Float(-30), through: 30, by: 0.01) {
            let exact = 1 / (1 + exp(-Double(x)))
            #expect(abs(Double(SigmoidApproximation.value(x)) - exact) <= SigmoidApproximation.maxError, "\(x)")
        }
        #expect(SigmoidApproximation.value(0) == 0.5 && abs(SigmoidApproximation.value(50) - 1) < 1e-6 && abs(SigmoidApproximation.value(-50)) < 1e-6)
    }

    @Test func withoutTheFlagTheMessageNamesIt() throws {
        let error = try #require(throws: ImportError.self) { try importONNX(path: siluModel()) }
        #expect(error.message.contains("Sigmoid (node sig: no secure protocol; --approx-sigmoid uses a piecewise-linear approximation within 0.0042 of it (10 comparisons per element)"))
    }

    @Test func siluRunsThroughTheParties() throws {
        let imported = try importONNX(path: siluModel(), options: ImportOptions(approximateSigmoid: true))
        #expect(imported.approximatedSigmoids.count == 1)
        var graph = imported.graph
        try PassManager(passes: PassRegistry.defaultPipeline()).run(&graph)
        #expect(!graph.nodes.contains { $0.op.kind == .relu }, "the approximation's comparisons are clips, which no plan replaces")
        let input = (0..<30).map { Float($0) / 2.5 - 6 }
        let float = try FloatEngine(graph: graph).run([Tensor(shape: [1, 2, 3, 5], floats: input)])[0].floats
        for (x, y) in zip(input, float) {
            let silu = Double(x) / (1 + exp(-Double(x)))
            #expect(abs(Double(y) - silu) <= SigmoidApproximation.maxError * Double(abs(x)) + 1e-5, "\(x)")
        }
        let (program, weights) = try Lowering.lower(graph)
        let emulated = Emulator(program: program, weights: weights).run(input)[0]
        #expect(zip(float, emulated).allSatisfy { abs($0 - $1) < 1e-3 })
        let secure = try MemorySession(program: program, weights: weights).infer([input])[0][0]
        #expect(zip(secure, emulated).allSatisfy { abs($0 - $1) < 1e-3 })
        #expect(program.instructions.contains { $0.opcode == .mul })
        // The ten comparisons are one instruction (their rounds shared), over ten copies.
        let relus = program.instructions.filter { $0.opcode == .relu }
        #expect(relus.count == 1 && relus[0].elementCount == 10 * 30)
    }
}
