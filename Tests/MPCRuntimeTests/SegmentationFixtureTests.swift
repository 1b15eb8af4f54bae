import Bytecode
import MPCRuntime
import NPY
import TestSupport
import Testing

/// The DeepLabV3-style fixtures that end in a per-pixel ArgMax (Models/generate.py):
/// `tiny_deeplab` (dilated ResNet-ish backbone, labels 1x40x48) and
/// `tiny_deeplab_mobilenetv2` (MobileNetV2 backbone with ReLU6, labels 1x1x48x40). Their
/// output.npy holds onnxruntime's int64 labels. generate.py checks that at most 0.1% of
/// the pixels have their two best float logits within 1e-3 of each other, so a 99.9%
/// agreement holds whenever the fixed-point logits are within 5e-4 of the float ones.
@Suite struct SegmentationFixtureTests {
    static let fixtures = ["tiny_deeplab", "tiny_deeplab_mobilenetv2"]

    /// onnxruntime's labels, with the shape of the model's output.
    func referenceLabels(_ fixture: String) throws -> (shape: [Int], labels: [Int64]) {
        let reference = try NPYArray.read(path: modelsPath("\(fixture)/output.npy"))
        guard case .int64(let labels) = reference.data else {
            throw TestFileError("\(fixture)/output.npy does not hold int64 labels")
        }
        return (reference.shape, labels)
    }

    /// The number of pixels where `actual` (labels as the runtime returns them: floats)
    /// holds exactly the label of `expected`.
    func agreeing(_ actual: [Float], _ expected: [Int64]) -> Int {
        zip(actual, expected).filter { $0.0 == Float($0.1) }.count
    }

    /// Compiled with the original function (batch norms folded, ReLU6 and max pooling
    /// kept): the three parties' labels equal the emulator's on at least 99.9% of the
    /// pixels, and both equal onnxruntime's on at least 99.9%.
    @Test(arguments: fixtures)
    func labelsMatchTheEmulatorAndOnnxruntime(_ fixture: String) throws {
        let (shape, expected) = try referenceLabels(fixture)
        // not a degenerate fixture: several classes among onnxruntime's labels
        #expect(Set(expected).count >= 3, "\(fixture): classes \(Set(expected).sorted())")
        let (program, weights, inputs) = try compiledFixture(fixture)
        #expect(inputs.count == 1)
        // the program's only output is the label tensor, not the logits
        #expect(program.outputs.count == 1)
        #expect(program.instructions[program.outputs[0]].shape == shape, "\(fixture): output shape")

        let secure = try MemorySession(program: program, weights: weights).infer([inputs[0]])[0]
        let emulated = Emulator(program: program, weights: weights).run(inputs[0])
        #expect(secure.count == 1 && emulated.count == 1)
        let (parties, emulator) = (secure[0], emulated[0])
        #expect(parties.count == expected.count && emulator.count == expected.count)
        #expect(emulator.allSatisfy { $0 >= 0 && $0 < 5 && $0 == $0.rounded() }, "\(fixture): the emulator's outputs are not labels 0..<5")

        let pixels = Double(expected.count)
        let withEmulator = zip(parties, emulator).filter { $0.0 == $0.1 }.count
        #expect(Double(withEmulator) >= 0.999 * pixels, "\(fixture): the parties' labels equal the emulator's on \(withEmulator) of \(expected.count) pixels")
        let partiesWithReference = agreeing(parties, expected)
        #expect(Double(partiesWithReference) >= 0.999 * pixels, "\(fixture): the parties' labels equal onnxruntime's on \(partiesWithReference) of \(expected.count) pixels")
        let emulatorWithReference = agreeing(emulator, expected)
        #expect(Double(emulatorWithReference) >= 0.999 * pixels, "\(fixture): the emulator's labels equal onnxruntime's on \(emulatorWithReference) of \(expected.count) pixels")
    }

    /// With exact truncations the parties are deterministic: their labels equal the
    /// emulator's on every pixel.
    @Test(arguments: fixtures)
    func exactTruncationGivesTheEmulatorsLabels(_ fixture: String) throws {
        let (program, weights, inputs) = try compiledFixture(fixture, exact: true)
        let secure = try MemorySession(program: program, weights: weights).infer([inputs[0]])[0]
        #expect(secure == Emulator(program: program, weights: weights).run(inputs[0]), "\(fixture)")
        let (_, expected) = try referenceLabels(fixture)
        let agree = agreeing(secure[0], expected)
        #expect(Double(agree) >= 0.999 * Double(expected.count), "\(fixture): exact truncations: \(agree) of \(expected.count) pixels equal onnxruntime's labels")
    }
}
