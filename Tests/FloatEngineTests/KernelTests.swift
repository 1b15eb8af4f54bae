import IR
import ONNXFrontend
import Passes
import TestSupport
import Testing

@testable import FloatEngine

/// The definition of block ReLU written as directly as possible: for every pixel, find
/// its patch, sum the patch, keep the pixel if the sum is positive.
func slowBlockReLU(_ x: [Float], n: Int, c: Int, h: Int, w: Int, blocks: [BlockSize]) -> [Float] {
    var out = x
    for sample in 0..<n {
        for channel in 0..<c {
            let block = blocks[channel]
            for y in 0..<h {
                for xx in 0..<w {
                    let index = ((sample * c + channel) * h + y) * w + xx
                    if block.isIdentity { continue }
                    if block.isZero {
                        out[index] = 0
                        continue
                    }
                    let top = y / block.height * block.height, left = xx / block.width * block.width
                    var sum: Float = 0
                    for py in top..<min(top + block.height, h) {
                        for px in left..<min(left + block.width, w) { sum += x[((sample * c + channel) * h + py) * w + px] }
                    }
                    out[index] = sum > 0 ? x[index] : 0
                }
            }
        }
    }
    return out
}

@Suite struct KernelTests {
    @Test func blockReLUMatchesTheDefinitionOnRandomShapes() throws {
        var generator = SeededGenerator(state: 42)
        for _ in 0..<60 {
            let n = Int.random(in: 1...2, using: &generator), c = Int.random(in: 1...6, using: &generator)
            let h = Int.random(in: 1...13, using: &generator), w = Int.random(in: 1...13, using: &generator)
            let blocks = (0..<c).map { _ -> BlockSize in
                switch Int.random(in: 0..<10, using: &generator) {
                case 0: return .identity
                case 1: return .zero
                case 2: return .relu
                default: return BlockSize(Int.random(in: 1...(h + 2), using: &generator), Int.random(in: 1...(w + 2), using: &generator))
                }
            }
            let data = (0..<(n * c * h * w)).map { _ in Float.random(in: -1...1, using: &generator) }
            let input = Tensor(shape: [n, c, h, w], floats: data)
            let output = try FloatEngine.evaluate(.blockReLU(BlockReLUPlan(blocks: blocks)), [input], resultType: input.type)
            #expect(output.floats == slowBlockReLU(data, n: n, c: c, h: h, w: w, blocks: blocks), "shape \([n, c, h, w]) blocks \(blocks)")
        }
    }

    @Test func blockReLUKeepsWholePatchesBySign() throws {
        // One 2x3 patch sums to -0.5 (zeroed, although it holds a positive pixel), the
        // other to +0.5 (kept, although it holds a negative pixel).
        let input = Tensor(shape: [1, 1, 2, 6], floats: [1, -1, 0, 1, -2, 1, -0.5, 0, 0, 0.5, 0, 0])
        let output = try FloatEngine.evaluate(.blockReLU(BlockReLUPlan(blocks: [BlockSize(2, 3)])), [input], resultType: input.type)
        #expect(output.floats == [0, 0, 0, 1, -2, 1, 0, 0, 0, 0.5, 0, 0])
    }

    @Test func oneByOneBlocksAreReLU() throws {
        let input = Tensor(shape: [1, 2, 3, 3], floats: (0..<18).map { Float($0) - 8.5 })
        let block = try FloatEngine.evaluate(.blockReLU(BlockReLUPlan(blocks: [.relu, .relu])), [input], resultType: input.type)
        let relu = try FloatEngine.evaluate(.relu, [input], resultType: input.type)
        #expect(block == relu)
    }

    @Test func engineRejectsInputsOfTheWrongShape() throws {
        var graph = Graph(name: "g")
        let x = graph.addInput(name: "x", type: TensorType(.f32, [1, 2, 3, 3]))
        graph.outputs = [try graph.append(.relu, [x], name: "y")]
        let engine = try FloatEngine(graph: graph)
        #expect(throws: EngineError.self) { try engine.run([Tensor(shape: [1, 2, 3, 4], floats: Array(repeating: 0, count: 24))]) }
        #expect(throws: EngineError.self) { try engine.runBatch(Tensor(shape: [3, 2, 3, 4], floats: Array(repeating: 0, count: 72))) }
        #expect(throws: EngineError.self) { try engine.run([]) }
        let batch = try engine.runBatch(Tensor(shape: [3, 2, 3, 3], floats: (0..<54).map { Float($0) - 27 }))
        #expect(batch[0].shape == [3, 2, 3, 3])
        #expect(batch[0].floats == (0..<54).map { max(Float($0) - 27, 0) })
    }
}

/// Opt-in profile of a large model (MPCC_PROFILE_MODEL=path.onnx swift test --filter profileLargeModel).
@Test func profileLargeModel() throws {
    guard let path = getenvString("MPCC_PROFILE_MODEL") else { return }
    var graph = try importONNX(path: path).graph
    try PassManager(passes: PassRegistry.defaultPipeline(keepReLU6: true, keepMaxPool: true)).run(&graph)
    let engine = try FloatEngine(graph: graph)
    let input = Tensor(shape: graph.type(of: graph.inputs[0]).shape, floats: Array(repeating: 0.1, count: graph.type(of: graph.inputs[0]).elementCount))
    var totals: [String: Duration] = [:]
    for _ in 0..<3 { _ = try engine.run([input]) { node, time in totals[node.op.mnemonic, default: .zero] += time } }
    for (op, time) in totals.sorted(by: { $0.value > $1.value }) { print("\(op): \(time / 3)") }
}
