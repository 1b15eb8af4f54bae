import Bytecode
import FloatEngine
import IR
@testable import Lowering
import MPCRuntime
import NPY
import ONNXFrontend
import Passes
import TestSupport
import Testing

/// The fixture's graph after the function-preserving passes (batch norms folded; ReLU6
/// and max pooling kept), with the fixture's input.
func preparedFixture(_ fixture: String) throws -> (graph: Graph, input: Tensor) {
    var graph = try importONNX(path: modelsPath("\(fixture)/model.onnx")).graph
    try PassManager(passes: PassRegistry.defaultPipeline(keepReLU6: true, keepMaxPool: true)).run(&graph)
    let input = try NPYArray.read(path: modelsPath("\(fixture)/input.npy")).tensor
    return (graph, input)
}

/// Float engine and emulator outputs (first output) on every row of `input`.
func compare(_ graph: Graph, _ input: Tensor, options: Lowering.Options = Lowering.Options()) throws -> (float: [Float], emulated: [Float], program: Program) {
    let (program, weights) = try Lowering.lower(graph, options: options)
    let decoded = try Program(decoding: program.encoded())
    let emulator = Emulator(program: decoded, weights: try WeightFile(decoding: weights.encoded(), for: decoded))
    let float = try FloatEngine(graph: graph).runBatch(input)[0].floats
    let inputShape = graph.type(of: graph.inputs[0]).shape
    let perRow = inputShape.reduce(1, *)
    let values = input.floats
    var emulated: [Float] = []
    for row in 0..<(values.count / perRow) {
        emulated += emulator.run(Array(values[(row * perRow)..<((row + 1) * perRow)]))[0]
    }
    return (float, emulated, decoded)
}

/// Replaces every rank-4 ReLU with a block ReLU of random block sizes per channel.
func withRandomBlocks(_ graph: Graph, seed: UInt64) -> Graph {
    var graph = graph
    var generator = SeededGenerator(state: seed)
    let choices = [BlockSize(1, 1), BlockSize(2, 2), BlockSize(1, 3), BlockSize(3, 2), BlockSize(4, 4), .identity, .zero]
    for index in graph.nodes.indices {
        guard case .relu = graph.nodes[index].op else { continue }
        let shape = graph.type(of: graph.nodes[index].result).shape
        guard shape.count == 4 else { continue }
        graph.nodes[index].op = .blockReLU(BlockReLUPlan(blocks: (0..<shape[1]).map { _ in choices.randomElement(using: &generator)! }))
    }
    return graph
}

@Suite struct EmulatorTests {
    /// Fixed point with 12 fractional bits on every fixture: each truncation and each
    /// quantized weight is off by at most 2^-13 relative, resize coefficients by 2^-9;
    /// through a few layers that stays below 0.5% of the output's scale.
    @Test(arguments: allFixtures())
    func emulatorMatchesFloatEngine(_ fixture: String) throws {
        let (graph, input) = try preparedFixture(fixture)
        let result = try compare(graph, input)
        try checkClose(result, fixture)
    }

    /// The same with block ReLUs (random plans) wherever the fixture has ReLUs. A patch
    /// whose float sum is within rounding of zero may flip, so the bound is on the
    /// fraction of outputs that differ beyond the precision.
    @Test(arguments: allFixtures())
    func emulatorMatchesFloatEngineWithBlocks(_ fixture: String) throws {
        let (plain, input) = try preparedFixture(fixture)
        let graph = withRandomBlocks(plain, seed: 7)
        guard graph != plain else { return }
        let result = try compare(graph, input)
        try checkClose(result, fixture)
    }

    /// With DReLUs on a 16-bit window (values up to 2^8 in magnitude keep their sign),
    /// the whole models stay as close as with exact ones.
    @Test(arguments: wholeModels)
    func approximateDReLUsStayClose(_ fixture: String) throws {
        let (plain, input) = try preparedFixture(fixture)
        let result = try compare(withRandomBlocks(plain, seed: 11), input, options: Lowering.Options(approxDReLUBits: 16))
        #expect(result.program.instructions.contains { instruction in
            switch instruction.operation {
            case .relu(let op): op.comparison.bits == 16
            case .blockReLU(let op): op.comparison.bits == 16
            default: false
            }
        })
        try checkClose(result, fixture)
    }

    /// The disassembly of whole models, compared with Tests/LoweringTests/Golden/<model>.asm
    /// (`MPCC_UPDATE_GOLDEN=1 swift test --filter GoldenBytecode` after a deliberate change).
    @Test(arguments: ["tiny_resnet", "tiny_segnet", "tiny_mobilenetv2"])
    func goldenBytecode(_ fixture: String) throws {
        let (graph, _) = try preparedFixture(fixture)
        let text = Disassembler.text(try Lowering.lower(graph).program)
        let path = "\(repositoryRoot)/Tests/LoweringTests/Golden/\(fixture).asm"
        if getenvString("MPCC_UPDATE_GOLDEN") != nil {
            writeFile(path, Array(text.utf8))
        }
        let golden = readFile(path).map { String(decoding: $0, as: UTF8.self) }
        #expect(golden == text, "\(fixture): disassembly differs from \(path)")
    }

    func checkClose(_ result: (float: [Float], emulated: [Float], program: Program), _ fixture: String) throws {
        #expect(result.float.count == result.emulated.count)
        let scale = max(result.float.reduce(0) { max($0, abs($1)) }, 1)
        let error = zip(result.float, result.emulated).reduce(0) { max($0, abs($1.0 - $1.1)) }
        print("FIXTURE \(fixture) error \(error) scale \(scale) relative \(error / scale)")
        #expect(error <= 0.001 * scale, "\(fixture): max abs error \(error) at output scale \(scale)")
        // Classifier outputs: the same top-1 class wherever the float margin exceeds the error.
        let shape = result.program.instructions[result.program.outputs[0]].shape
        guard shape.count == 2, shape[1] > 1 else { return }
        let width = shape[1]
        for row in 0..<(result.float.count / width) {
            let float = Array(result.float[(row * width)..<((row + 1) * width)])
            let emulated = Array(result.emulated[(row * width)..<((row + 1) * width)])
            let sorted = float.sorted(by: >)
            guard sorted[0] - sorted[1] > 2 * error else { continue }
            #expect(float.firstIndex(of: sorted[0]) == emulated.firstIndex(of: emulated.max()!), "\(fixture): top-1 differs in row \(row)")
        }
    }
}

/// The client receives the declared output: trailing data movement and resize run on
/// shares before the reveal; softmax stays the client's, on revealed logits of its size.
/// Independent comparisons share their rounds: a clip's two ReLUs are one instruction
/// over both shifted copies, with the same bytes and the values of two.
@Suite struct SharedRoundTests {
    @Test func aClipsTwoComparisonsAreOneInstruction() throws {
        let graph = try Parser().parse("""
            graph @g(%x: f32[1,2,3,4]) -> (%y: f32[1,2,3,4]) {
              %y = clip(%x) {min=-1.5, max=2} : f32[1,2,3,4]
              return %y
            }
            """)
        let program = try Lowering.lower(graph).program
        let relus = program.instructions.filter { $0.opcode == .relu }
        #expect(relus.count == 1 && relus[0].elementCount == 48, "one ReLU over both copies")
        let beforeReveal = program.instructions.filter { $0.opcode != .reveal }.reduce(Cost()) { $0 + $1.cost }
        #expect(beforeReveal.rounds == relus[0].cost.rounds, "the clip takes the rounds of one comparison")
        let weights = WeightFile(programHash: program.hash, tensors: [])
        let input = (0..<24).map { Float($0) / 4 - 3 }
        let output = Emulator(program: program, weights: weights).run(input)[0]
        #expect(zip(output, input).allSatisfy { abs($0 - min(max($1, -1.5), 2)) < 1e-5 })
        let secure = try MemorySession(program: program, weights: weights).infer([input])[0][0]
        #expect(zip(secure, output).allSatisfy { abs($0 - $1) < 1e-5 })
    }
}

extension SharedRoundTests {
    /// Two ReLUs of parallel branches (one level apart from the input each) are one
    /// instruction after round sharing, and the values are the separate ones'.
    @Test func parallelBranchesShareTheirComparison() throws {
        let graph = try Parser().parse("""
            graph @g(%x: f32[1,2,3,4]) -> (%y: f32[1,2,3,4]) {
              %c = constant f32[1] [0.5]
              %s = sub(%x, %c) : f32[1,2,3,4]
              %a = relu(%x) : f32[1,2,3,4]
              %b = relu(%s) : f32[1,2,3,4]
              %y = add(%a, %b) : f32[1,2,3,4]
              return %y
            }
            """)
        let (program, weights) = try Lowering.lower(graph)
        let relus = program.instructions.filter { $0.opcode == .relu }
        #expect(relus.count == 1 && relus[0].elementCount == 48)
        #expect(relus[0].source == "a + b")
        let input = (0..<24).map { Float($0) / 4 - 3 }
        let output = Emulator(program: program, weights: weights).run(input)[0]
        #expect(zip(output, input).allSatisfy { abs($0 - (max($1, 0) + max($1 - 0.5, 0))) < 1e-5 })
        let secure = try MemorySession(program: program, weights: weights).infer([input])[0][0]
        #expect(zip(secure, output).allSatisfy { abs($0 - $1) < 1e-5 })
    }
}

@Suite struct RevealTests {
    func lowered(_ text: String) throws -> Program {
        try Lowering.lower(try Parser().parse(text)).program
    }

    func revealedElements(_ program: Program) -> Int {
        program.instructions.filter { $0.opcode == .reveal }.reduce(0) { $0 + $1.elementCount }
    }

    @Test func trailingSliceAndTransposeRunOnShares() throws {
        let program = try lowered("""
            graph @g(%x: f32[1,2,4,4]) -> (%y: f32[1,2,2,4]) {
              %r = relu(%x) : f32[1,2,4,4]
              %t = transpose(%r) {perm=[0,1,3,2]} : f32[1,2,4,4]
              %y = slice(%t) {starts=[0,0,0,0], steps=[1,1,2,1]} : f32[1,2,2,4]
              return %y
            }
            """)
        #expect(revealedElements(program) == 16)
        let reveal = try #require(program.instructions.first { $0.opcode == .reveal })
        #expect(reveal.cost.online.server == 8 * 16 && reveal.cost.online.client == 0)
        #expect(program.instructions.filter { $0.domain == .revealed }.count == 1, "nothing runs at the client after the reveal")
        let weights = WeightFile(programHash: program.hash, tensors: [])
        let input = (0..<32).map { Float($0 % 7) - 3 }
        let output = Emulator(program: program, weights: weights).run(input)[0]
        let relu: [Float] = input.map { max($0, 0) }
        var expected: [Float] = []
        // y[c][i][j] = transpose(relu)[c][2i][j] = relu[c][j][2i].
        for c in 0..<2 {
            for i in 0..<2 {
                for j in 0..<4 { expected.append(relu[c * 16 + j * 4 + 2 * i]) }
            }
        }
        #expect(output == expected)
    }

    /// A model ending in ArgMax reveals only the indices: the comparison tree runs on
    /// shares, ties keep the first index (or the last with select_last_index) as
    /// onnxruntime does, and the client's one reveal is the output's size.
    @Test(arguments: [false, true])
    func argmaxRevealsOnlyTheIndices(_ selectLast: Bool) throws {
        let program = try lowered("""
            graph @g(%x: f32[1,5,2,3]) -> (%y: i64[1,1,2,3]) {
              %r = relu(%x) : f32[1,5,2,3]
              %y = argmax(%r) {axis=1, keepdims=true, select_last_index=\(selectLast)} : i64[1,1,2,3]
              return %y
            }
            """)
        #expect(revealedElements(program) == 6)
        let reveal = try #require(program.instructions.first { $0.opcode == .reveal })
        #expect(reveal.cost.online.server == 8 * 6 && reveal.cost.online.client == 0)
        #expect(program.instructions.filter { $0.domain == .revealed }.count == 1, "nothing runs at the client after the reveal")
        #expect(Disassembler.received(program) == ["the client receives %3 = %2 'y' [1,1,2,3]: 6 values, 48 B, an output"])
        // Per pixel (2x3) the five channels' values: distinct maxima, ties, all negative
        // (every ReLU output 0: a five-way tie), the maximum first and last.
        let columns: [[Float]] = [[1, 3, 2, 0, -1], [2, 5, 5, 1, 5], [-1, -2, -3, -4, -5], [4, 1, 2, 3, 0], [0, 1, 2, 3, 4], [7, 7, 1, 1, 7]]
        let input = (0..<5).flatMap { c in columns.map { $0[c] } }
        let output = Emulator(program: program, weights: WeightFile(programHash: program.hash, tensors: [])).run(input)[0]
        let expected = columns.map { column in
            let relu = column.map { max($0, 0) }, best = relu.max()!
            return Float(selectLast ? relu.lastIndex(of: best)! : relu.firstIndex(of: best)!)
        }
        #expect(output == expected)
    }

    /// argmax(softmax(x)) reads the logits (argmax-of-logits), so it runs on shares.
    @Test func argmaxOfSoftmaxRunsOnShares() throws {
        var graph = try Parser().parse("""
            graph @g(%x: f32[1,6]) -> (%y: i64[1]) {
              %p = softmax(%x) {axis=1} : f32[1,6]
              %y = argmax(%p) {axis=1, keepdims=false, select_last_index=false} : i64[1]
              return %y
            }
            """)
        try PassManager(passes: PassRegistry.defaultPipeline()).run(&graph)
        let program = try Lowering.lower(graph).program
        #expect(revealedElements(program) == 1)
        #expect(!program.instructions.contains { $0.opcode == .softmax })
    }

    @Test func softmaxStaysAtTheClientOnItsOwnSize() throws {
        let program = try lowered("""
            graph @g(%x: f32[1,6]) -> (%y: f32[1,6]) {
              %r = relu(%x) : f32[1,6]
              %y = softmax(%r) {axis=1} : f32[1,6]
              return %y
            }
            """)
        #expect(revealedElements(program) == 6)
        #expect(program.instructions.last?.opcode == .softmax && program.instructions.last?.domain == .revealed)
    }
}

/// Ring choice from calibrated magnitudes: values that fit with the headroom go to
/// Z_2^32; too large, infinite or NaN magnitudes (an overflowing calibration run) and
/// values never calibrated stay in Z_2^64.
@Suite struct RingChoiceTests {
    let text = """
        graph @g(%x: f32[1,6]) -> (%y: f32[1,6]) {
          %y = relu(%x) : f32[1,6]
          return %y
        }
        """

    func reluDomain(_ largest: [String: Float]) throws -> Domain {
        var options = Lowering.Options(fracBits: 12)
        options.narrowRing = Lowering.NarrowRing(largest: largest)
        let program = try Lowering.lower(try Parser().parse(text), options: options).program
        return try #require(program.instructions.first { $0.opcode == .relu }).domain
    }

    /// ceil(log2 x): values just above 1 or a power of two need the next bit (a
    /// calibrated 1.058 once got -4 bits, and 4.5 got 2, so a layer wrapped in Z_2^32).
    @Test func magnitudeBitsRoundUp() {
        let cases: [(Double, Int)] = [(0.5, 0), (1, 0), (1.058, 1), (2, 1), (2.5, 2), (4, 2), (4.5, 3), (1000, 10), (1024, 10), (1025, 11)]
        for (x, bits) in cases { #expect(Lowering.magnitudeBits(x) == bits, "\(x)") }
    }

    @Test func magnitudesPlaceTheRing() throws {
        #expect(try reluDomain(["x": 4, "y": 4]) == .shared32)
        #expect(try reluDomain(["x": 1e6, "y": 1e6]) == .shared)
        #expect(try reluDomain(["x": .infinity, "y": 4]) == .shared)
        #expect(try reluDomain(["x": .nan, "y": .nan]) == .shared)
        #expect(try reluDomain(["x": 4]) == .shared)
    }
}
