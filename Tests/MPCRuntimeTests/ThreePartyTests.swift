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

/// Compiles a fixture (original function: batch norms folded, ReLU6 and max pooling kept).
/// `narrow`: Z_2^32 where the fixture's own inputs, as calibration, leave room (as
/// `mpcc --narrow-ring --calibration` places it).
func compiledFixture(
    _ fixture: String, approx: Int? = nil, blocks: Bool = false, exact: Bool = false, narrow: Bool = false, sigmoid: Bool = false, radix: Int = 2
) throws -> (program: Program, weights: WeightFile, input: [[Float]]) {
    var graph = try importONNX(path: modelsPath("\(fixture)/model.onnx"), options: ImportOptions(approximateSigmoid: sigmoid)).graph
    try PassManager(passes: PassRegistry.defaultPipeline(keepReLU6: true, keepMaxPool: true)).run(&graph)
    if blocks {
        var generator = SeededGenerator(state: 5)
        let choices = [BlockSize(1, 1), BlockSize(2, 2), BlockSize(1, 3), BlockSize(3, 2), .identity, .zero]
        for index in graph.nodes.indices {
            guard case .relu = graph.nodes[index].op, graph.type(of: graph.nodes[index].result).rank == 4 else { continue }
            let channels = graph.type(of: graph.nodes[index].result).shape[1]
            graph.nodes[index].op = .blockReLU(BlockReLUPlan(blocks: (0..<channels).map { _ in choices.randomElement(using: &generator)! }))
        }
    }
    let input = try NPYArray.read(path: modelsPath("\(fixture)/input.npy")).floats
    let inputShape = graph.type(of: graph.inputs[0]).shape
    let perRow = inputShape.reduce(1, *)
    let rows = (0..<(input.count / perRow)).map { Array(input[($0 * perRow)..<(($0 + 1) * perRow)]) }
    var options = Lowering.Options(approxDReLUBits: approx)
    options.exactTruncation = exact
    options.comparisonRadix = radix
    if narrow {
        let largest = try FloatEngine(graph: graph, fuseActivations: false).largestMagnitudes(rows.map { Tensor(shape: inputShape, floats: $0) })
        let ring = Lowering.NarrowRing(largest: largest)
        options.narrowRing = ring
        options.fracBits = Lowering.narrowActivationBits(graph, ring, standard: options.fracBits)
        options.inputRange = input.min()!...input.max()!
    }
    let (program, weights) = try Lowering.lower(graph, options: options)
    return (program, weights, rows)
}

/// The parties' output against the emulator's: within 1% of the output's scale (one
/// unit of rounding per truncation, amplified by later layers). With block plans a
/// block's sign may flip where its patch sum is within that rounding of zero
/// (ProtocolTests pins the sign down), and a flipped patch changes its region
/// downstream, so those are compared value by value: 95% must agree.
func expectAgreement(_ expected: [Float], _ actual: [Float], blocks: Bool, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let scale = max(expected.reduce(0) { max($0, abs($1)) }, 1)
    if !blocks {
        let error = zip(expected, actual).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(error <= 0.01 * scale, "\(name): 3PC differs from the emulator by \(error) at scale \(scale)", sourceLocation: sourceLocation)
        return
    }
    let close = zip(expected, actual).filter { abs($0 - $1) <= 0.01 * scale }.count
    #expect(Double(close) >= 0.95 * Double(expected.count), "\(name) with blocks: \(close) of \(expected.count) values agree with the emulator", sourceLocation: sourceLocation)
}

@Suite struct ThreePartyTests {
    /// Every fixture (whole models and op-level ones): the three parties (in-memory
    /// links) agree with the emulator up to the local truncation error, with and without
    /// random block plans. (EmulatorTests bound the emulator against the float engine.)
    @Test(arguments: allFixtures())
    func everyFixtureMatchesTheEmulator(_ fixture: String) throws {
        for blocks in [false, true] {
            let (program, weights, inputs) = try compiledFixture(fixture, blocks: blocks)
            let secure = try MemorySession(program: program, weights: weights).infer([inputs[0]])[0]
            let emulated = Emulator(program: program, weights: weights).run(inputs[0])
            for (output, (actual, expected)) in zip(secure, emulated).enumerated() {
                expectAgreement(expected, actual, blocks: blocks, "\(fixture) output \(output)")
            }
        }
    }

    /// The three parties' output equals the emulator's up to the local truncation error
    /// (one unit in the last place per truncation, amplified by later layers).
    @Test(arguments: ["tiny_resnet", "tiny_mobilenetv2", "odd_shapes", "tiny_segnet", "shufflenet_block", "opset9_legacy", "tiny_resnet_avgpool"])
    func matchesTheEmulator(_ fixture: String) throws {
        for (approx, blocks) in [(nil, false), (nil, true), (16, true)] as [(Int?, Bool)] {
            let (program, weights, inputs) = try compiledFixture(fixture, approx: approx, blocks: blocks)
            let secure = try MemorySession(program: program, weights: weights).infer(inputs)
            let emulator = Emulator(program: program, weights: weights)
            for (row, input) in inputs.enumerated() {
                let expected = emulator.run(input)[0], actual = secure[row][0]
                if approx == nil {
                    expectAgreement(expected, actual, blocks: blocks, fixture)
                } else if expected.count > 1 && program.instructions[program.outputs[0]].shape.count == 2 {
                    // The parties' approximate sign differs from the emulator's only for
                    // sums within 2^dropped of zero (the carry of the dropped low bits;
                    // ProtocolTests pins this down), but a flipped patch changes a whole
                    // region downstream, so whole models are compared by their top class.
                    #expect(expected.firstIndex(of: expected.max()!) == actual.firstIndex(of: actual.max()!), "\(fixture): top-1 differs with approximate DReLUs")
                }
            }
        }
    }

    /// Inputs scaled by 2^12 drive every layer type (conv, dense, scale, products,
    /// pooling, resize, each followed by a truncation) to values near 2^56, where the old
    /// local truncation wrapped about once per hundred elements: the parties still
    /// agree with the emulator to float precision.
    @Test(arguments: ["tiny_resnet", "tiny_mobilenetv2_relu", "odd_shapes", "tiny_segnet", "shufflenet_block", "tiny_resnet_avgpool"])
    func largeValuesNeverWrap(_ fixture: String) throws {
        let (program, weights, inputs) = try compiledFixture(fixture)
        let input = inputs[0].map { $0 * 0x1p12 }
        let secure = try MemorySession(program: program, weights: weights).infer([input])[0][0]
        let expected = Emulator(program: program, weights: weights).run(input)[0]
        let scale = max(expected.reduce(0) { max($0, abs($1)) }, 1)
        let error = zip(expected, secure).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(scale > 0x1p10, "\(fixture): the scaled input should reach large values (scale \(scale))")
        #expect(error <= 1e-4 * scale, "\(fixture): 3PC differs from the emulator by \(error) at scale \(scale)")
    }

    /// With exact truncations every protocol is deterministic: the parties' outputs
    /// equal the emulator's bit for bit, with block plans too (approximate DReLUs are not
    /// deterministic: the carry of their dropped bits, ProtocolTests).
    @Test(arguments: ["tiny_resnet", "tiny_segnet", "tiny_mobilenetv2", "odd_shapes", "shufflenet_block"])
    func exactTruncationMatchesTheEmulatorBitForBit(_ fixture: String) throws {
        for (approx, blocks) in [(nil, false), (nil, true)] as [(Int?, Bool)] {
            let (program, weights, inputs) = try compiledFixture(fixture, approx: approx, blocks: blocks, exact: true)
            let secure = try MemorySession(program: program, weights: weights).infer([inputs[0]])[0]
            #expect(secure == Emulator(program: program, weights: weights).run(inputs[0]), "\(fixture) blocks=\(blocks)")
        }
    }

    /// Z_2^32 where values fit: most registers are narrow, exact truncations keep the
    /// parties bit for bit equal to the emulator, stochastic ones within rounding, and
    /// the narrow program's output stays within 1% of the 64-bit one's.
    @Test(arguments: ["tiny_resnet", "tiny_mobilenetv2", "odd_shapes", "tiny_segnet", "shufflenet_block", "tiny_resnet_avgpool", "tiny_mobilenetv3", "tiny_se_resnet"])
    func narrowRingsMatchTheEmulator(_ fixture: String) throws {
        let (wide, wideWeights, inputs) = try compiledFixture(fixture)
        let reference = Emulator(program: wide, weights: wideWeights).run(inputs[0])[0]
        for exact in [false, true] {
            let (program, weights, _) = try compiledFixture(fixture, exact: exact, narrow: true)
            let narrow = program.instructions.filter { $0.domain == .shared32 }.count
            let shared = program.instructions.filter { $0.domain != .revealed }.count
            #expect(2 * narrow > shared, "\(fixture): only \(narrow) of \(shared) shared registers are in Z_2^32")
            let secure = try MemorySession(program: program, weights: weights).infer([inputs[0]])[0]
            let emulated = Emulator(program: program, weights: weights).run(inputs[0])
            if exact {
                #expect(secure == emulated, "\(fixture): exact narrow truncations differ from the emulator")
            } else {
                expectAgreement(emulated[0], secure[0], blocks: false, "\(fixture) narrow")
            }
            expectAgreement(reference, emulated[0], blocks: false, "\(fixture) narrow against 64-bit")
        }
    }

    /// Every instruction's bytes, per role, are exactly what the cost model predicted
    /// (in Z_2^64, and with narrow registers).
    /// Every fixture (among them models ending in ArgMax, Slice, Transpose, Resize or
    /// Softmax): the client receives exactly as many values as the model declares as
    /// outputs; a final softmax reads revealed logits of its own size.
    @Test func everyFixtureRevealsOnlyItsOutputs() throws {
        for fixture in allFixtures() {
            let (program, _, _) = try compiledFixture(fixture)
            let revealed = program.instructions.filter { $0.opcode == .reveal }.reduce(0) { $0 + $1.elementCount }
            let declared = program.outputs.reduce(0) { $0 + program.instructions[$1].elementCount }
            #expect(revealed == declared, "\(fixture): the client receives \(revealed) values for \(declared) output values")
        }
    }

    /// Models ending in ArgMax (a classifier, per-pixel labels): the parties compute the
    /// indices on shares and give the client onnxruntime's classes; the client's one
    /// reveal carries exactly the output (8 bytes per index), nothing of the logits.
    @Test(arguments: ["ops/argmax_final", "ops/argmax_channels"])
    func argmaxModelsRevealOnlyTheIndices(_ fixture: String) throws {
        let (program, weights, inputs) = try compiledFixture(fixture)
        let session = MemorySession(program: program, weights: weights)
        let secure = try session.infer([inputs[0]])[0][0]
        let expected = try NPYArray.read(path: modelsPath("\(fixture)/output.npy")).floats
        #expect(secure == Array(expected.prefix(secure.count)))
        let reveals = program.instructions.indices.filter { program.instructions[$0].opcode == .reveal }
        #expect(reveals == [program.outputs[0]] && program.instructions[reveals[0]].elementCount == secure.count)
        #expect(session.parties[.server]!.measured[reveals[0]].bytesSent == 8 * secure.count)
        #expect(program.instructions.allSatisfy { $0.domain != .revealed || $0.opcode == .reveal }, "nothing runs at the client")
    }

    @Test(arguments: ["tiny_resnet", "odd_shapes", "tiny_segnet", "ops/argmax_channels"], [false, true])
    func measuredBytesEqualPredicted(_ fixture: String, exact: Bool) throws {
        // Exact runs also take radix-4 comparison trees (ComparisonCircuit).
        let (program, weights, inputs) = try compiledFixture(fixture, approx: 16, blocks: true, exact: exact, narrow: exact, radix: exact ? 4 : 2)
        let session = MemorySession(program: program, weights: weights)
        _ = try session.infer([inputs[0]])
        let (client, server, helper) = (session.parties[.client]!, session.parties[.server]!, session.parties[.helper]!)
        for (index, instruction) in program.instructions.enumerated() {
            let cost = instruction.cost
            let name = "\(fixture) %\(index) \(instruction.opcode.mnemonic)"
            #expect(client.measured[index].bytesSent == cost.online.client + cost.offline.client, "\(name): client")
            #expect(server.measured[index].bytesSent == cost.online.server + cost.offline.server, "\(name): server")
            #expect(helper.measured[index].bytesSent == cost.online.helper + cost.offline.helper, "\(name): helper")
            #expect(max(client.measured[index].rounds, server.measured[index].rounds) == cost.rounds, "\(name): rounds")
        }
        // Setup: the masked weights, plus 32-byte program hashes to both peers, the keys,
        // the client's two tickets to each peer and a verdict byte from the others to each.
        let total = program.totalCost.session
        #expect(server.sessionBytes == total.server + 2 * 32 + 32 + 2 && server.handshakeBytes == 2 * 32 + 32 + 2)
        #expect(client.sessionBytes == 2 * 32 + 2 * 32 + 2 * 64 && client.handshakeBytes == client.sessionBytes)
        #expect(helper.sessionBytes == 2 * 32 + 2 && helper.handshakeBytes == helper.sessionBytes)
        #expect(total.client == 0 && total.helper == 0)
    }
}
