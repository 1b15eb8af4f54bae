import IR
import NPY
import ONNXFrontend
import TestSupport
import Testing

@testable import FloatEngine

/// Largest absolute difference between two float tensors of equal shape.
func maxAbsoluteError(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.floats, b.floats).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// The fixture's reference output, and the engine's output on the fixture's input.
func runFixture(_ fixture: String, _ prepare: (Graph) throws -> Graph = { $0 }) throws -> (engine: Tensor, reference: Tensor) {
    let model = try importONNX(path: modelsPath("\(fixture)/model.onnx"))
    let engine = try FloatEngine(graph: try prepare(model.graph))
    let input = try NPYArray.read(path: modelsPath("\(fixture)/input.npy")).tensor
    let reference = try NPYArray.read(path: modelsPath("\(fixture)/output.npy")).tensor
    let output = try engine.runBatch(input)
    return (output[0], reference)
}

@Suite struct DifferentialTests {
    /// The float engine on the unrewritten graph reproduces onnxruntime on every fixture:
    /// max abs error <= 1e-4 of the output's scale (argmax indices exactly).
    @Test(arguments: allFixtures())
    func matchesOnnxruntime(_ fixture: String) throws {
        let (output, reference) = try runFixture(fixture)
        #expect(output.shape == reference.shape)
        if reference.dtype == .i64 {
            #expect(output.ints == reference.ints)
            return
        }
        let scale = max(reference.floats.reduce(0) { max($0, abs($1)) }, 1e-6)
        let error = maxAbsoluteError(output, reference)
        #expect(error <= 1e-4 * scale, "\(fixture): max abs error \(error) at output scale \(scale)")
    }
}
