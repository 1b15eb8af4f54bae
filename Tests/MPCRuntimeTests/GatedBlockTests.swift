import Bytecode
import FloatEngine
import IR
import Lowering
import MPCRuntime
import NPY
import ONNXFrontend
import Passes
import TestSupport
import Testing

/// The gated-block fixtures (Models/generate.py): `tiny_se_resnet` (squeeze-excitation
/// with a HardSigmoid gate in a ResNet), `tiny_mobilenetv3` (bneck blocks with SE,
/// HardSwish and ReLU) and `tiny_lraspp` (LRASPP head: a map times a HardSigmoid-gated
/// global-pool branch; per-pixel logits). Each multiplies two computed tensors, an
/// N,C,1,1 gate broadcast over an N,C,H,W map (and HardSwish is x times its own
/// HardSigmoid), which lowers to the Beaver product `mul`. generate.py checks that no
/// row (pixel) of their float logits has its two best classes within 1e-3.
@Suite struct GatedBlockTests {
    /// Secure products per fixture: one per squeeze-excitation gate (LRASPP's head
    /// scale included) and one per HardSwish (x * HardSigmoid(x)).
    static let products = ["tiny_se_resnet": 2 + 0, "tiny_mobilenetv3": 3 + 7, "tiny_lraspp": 3 + 4]
    static let fixtures = ["tiny_se_resnet", "tiny_mobilenetv3", "tiny_lraspp"]

    /// The index of the largest of `values[offset + k * stride]`, k < classes.
    func argmax(_ values: [Float], classes: Int, stride: Int, offset: Int) -> Int {
        (0..<classes).max { values[offset + $0 * stride] < values[offset + $1 * stride] }!
    }

    /// Per-row (classifier) or per-pixel (segmentation) argmax over axis 1 of an output
    /// of shape `shape` (batch 1).
    func labels(_ values: [Float], shape: [Int]) -> [Int] {
        let classes = shape[1], pixels = shape.dropFirst(2).reduce(1, *)
        return (0..<pixels).map { argmax(values, classes: classes, stride: pixels, offset: $0) }
    }

    /// The compiled program multiplies computed tensors with `mul`, among them a gate
    /// broadcast over a map; the three parties agree with the emulator within the
    /// truncation error, and their argmax is onnxruntime's on every row / pixel.
    @Test(arguments: fixtures)
    func partiesMatchTheEmulator(_ fixture: String) throws {
        let (program, weights, inputs) = try compiledFixture(fixture)
        #expect(inputs.count == 1)
        let products = program.instructions.compactMap { instruction -> Mul? in
            if case .mul(let mul) = instruction.operation { return mul }
            return nil
        }
        #expect(products.count == GatedBlockTests.products[fixture], "\(fixture): \(products.count) secure products")
        let broadcast = products.filter { program.instructions[$0.a].shape != program.instructions[$0.b].shape }
        #expect(!broadcast.isEmpty, "\(fixture): no product broadcasts a gate over a map")
        for mul in broadcast {
            let (a, b) = (program.instructions[mul.a].shape, program.instructions[mul.b].shape)
            let gate = a.reduce(1, *) < b.reduce(1, *) ? a : b
            #expect(gate.count == 4 && gate[2] == 1 && gate[3] == 1, "\(fixture): gate shape \(gate) (operands \(a), \(b))")
        }

        let secure = try MemorySession(program: program, weights: weights).infer([inputs[0]])[0]
        let emulated = Emulator(program: program, weights: weights).run(inputs[0])
        #expect(secure.count == 1 && emulated.count == 1)
        expectAgreement(emulated[0], secure[0], blocks: false, fixture)

        let reference = try NPYArray.read(path: modelsPath("\(fixture)/output.npy"))
        #expect(secure[0].count == reference.floats.count)
        let expected = labels(reference.floats, shape: reference.shape)
        #expect(labels(secure[0], shape: reference.shape) == expected, "\(fixture): the parties' argmax differs from onnxruntime's")
        #expect(labels(emulated[0], shape: reference.shape) == expected, "\(fixture): the emulator's argmax differs from onnxruntime's")
    }

    /// With exact truncations the products and comparisons are deterministic: the
    /// parties' output equals the emulator's bit for bit.
    @Test(arguments: fixtures)
    func exactTruncationMatchesTheEmulatorBitForBit(_ fixture: String) throws {
        let (program, weights, inputs) = try compiledFixture(fixture, exact: true)
        #expect(program.instructions.contains { $0.opcode == .mul }, "\(fixture): no secure product")
        let secure = try MemorySession(program: program, weights: weights).infer([inputs[0]])[0]
        #expect(secure == Emulator(program: program, weights: weights).run(inputs[0]), "\(fixture)")
    }

    /// `tiny_efficientnet` (SiLU and Sigmoid-gated squeeze-excitation) with
    /// --approx-sigmoid: the float function moves from onnxruntime's by the
    /// approximation's error only (its top class stays), and the parties match the
    /// emulator, bit for bit with exact truncations.
    @Test func siluAndSigmoidGatesRunThroughTheParties() throws {
        let imported = try importONNX(path: modelsPath("tiny_efficientnet/model.onnx"), options: ImportOptions(approximateSigmoid: true))
        #expect(imported.approximatedSigmoids.count == 17)
        let reference = try NPYArray.read(path: modelsPath("tiny_efficientnet/output.npy"))
        let (program, weights, inputs) = try compiledFixture("tiny_efficientnet", sigmoid: true)
        var graph = imported.graph
        try PassManager(passes: PassRegistry.defaultPipeline(keepReLU6: true, keepMaxPool: true)).run(&graph)
        let float = try FloatEngine(graph: graph).run([Tensor(shape: [1, 3, 32, 32], floats: inputs[0])])[0].floats
        let scale = reference.floats.map(abs).max()!
        let moved = zip(float, reference.floats).map { abs($0 - $1) }.max()!
        #expect(moved > 0 && moved <= 0.2 * scale, "the approximation moves the logits by \(moved) at scale \(scale)")
        let expected = labels(reference.floats, shape: reference.shape)
        #expect(labels(float, shape: reference.shape) == expected)

        let emulated = Emulator(program: program, weights: weights).run(inputs[0])[0]
        let secure = try MemorySession(program: program, weights: weights).infer([inputs[0]])[0][0]
        expectAgreement(emulated, secure, blocks: false, "tiny_efficientnet")
        #expect(zip(float, emulated).map { abs($0 - $1) }.max()! <= 1e-3 * scale, "the emulator follows the approximated float function")
        #expect(labels(secure, shape: reference.shape) == expected)
        let (exactProgram, exactWeights, _) = try compiledFixture("tiny_efficientnet", exact: true, sigmoid: true)
        let exactSecure = try MemorySession(program: exactProgram, weights: exactWeights).infer([inputs[0]])[0]
        #expect(exactSecure == Emulator(program: exactProgram, weights: exactWeights).run(inputs[0]))
    }
}
