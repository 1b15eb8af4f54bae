import IR
import TestSupport
import Testing

@testable import FloatEngine

/// `backward` against central finite differences: for random inputs, output weights v
/// and directions u, <gradient, u> must match (f(x + eps u) - f(x - eps u)) / (2 eps)
/// where f(x) = <outputs(x), v>. The ops are piecewise linear or smooth, and random
/// inputs rarely sit within eps of a kink.
@Suite struct BackwardTests {
    static let graphs: [(String, String)] = [
        (
            "conv: stride 2, padding, dilation, groups; dense",
            """
            graph @g(%x: f32[1,4,7,6]) -> (%y: f32[1,5]) {
              %w = constant f32[6,2,3,2] random
              %b = constant f32[6] random
              %c = conv(%x, %w, %b) {strides=[2,1], pads=[1,0,2,1], dilations=[1,2], group=2} : f32[1,6,4,5]
              %r = reshape(%c) {shape=[1,120]} : f32[1,120]
              %fc = constant f32[5,120] random
              %y = dense(%r, %fc) : f32[1,5]
              return %y
            }
            """
        ),
        (
            "depthwise and pointwise conv, relu, max pool, avg pool with padding, global pool",
            """
            graph @g(%x: f32[1,3,8,8]) -> (%y: f32[1,3,1,1]) {
              %wd = constant f32[3,1,3,3] random
              %d = conv(%x, %wd) {strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=3} : f32[1,3,8,8]
              %r = relu(%d) : f32[1,3,8,8]
              %m = max_pool(%r) {kernel=[2,2], strides=[2,2], pads=[0,0,0,0], dilations=[1,1], ceil_mode=false} : f32[1,3,4,4]
              %wp = constant f32[3,3,1,1] random
              %p = conv(%m, %wp) {strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1} : f32[1,3,4,4]
              %a = avg_pool(%p) {kernel=[3,3], strides=[2,2], pads=[1,1,1,1], dilations=[1,1], ceil_mode=false, count_include_pad=true} : f32[1,3,2,2]
              %y = global_avg_pool(%a) : f32[1,3,1,1]
              return %y
            }
            """
        ),
        (
            "residual add, broadcast mul/sub/div, batch norm, clip, concat, slice, pad, transpose",
            """
            graph @g(%x: f32[1,2,5,5]) -> (%y: f32[1,4,6,5]) {
              %s = constant f32[2,1,1] [1.5, -0.5]
              %t = constant f32[1,2,1,1] [0.25, 2.0]
              %m = mul(%x, %s) : f32[1,2,5,5]
              %a = add(%m, %x) : f32[1,2,5,5]
              %q = div(%a, %t) : f32[1,2,5,5]
              %u = sub(%t, %q) : f32[1,2,5,5]
              %p = mul(%u, %x) : f32[1,2,5,5]
              %g = constant f32[2] [1.2, 0.7]
              %be = constant f32[2] [0.1, -0.3]
              %mu = constant f32[2] [0.2, 0.4]
              %va = constant f32[2] [0.9, 1.6]
              %n = batch_norm(%p, %g, %be, %mu, %va) {epsilon=1e-05} : f32[1,2,5,5]
              %k = clip(%n) {min=-1.0, max=1.5} : f32[1,2,5,5]
              %c = concat(%k, %x) {axis=1} : f32[1,4,5,5]
              %l = slice(%c) {starts=[0,0,1,0], steps=[1,1,1,2]} : f32[1,4,4,3]
              %d = pad(%l) {pads=[0,0,1,0,0,0,1,2], value=0.0} : f32[1,4,6,5]
              %tr = transpose(%d) {perm=[0,1,3,2]} : f32[1,4,5,6]
              %y = transpose(%tr) {perm=[0,1,3,2]} : f32[1,4,6,5]
              return %y
            }
            """
        ),
        (
            "bilinear resize (half pixel, up and down), nearest resize",
            """
            graph @g(%x: f32[1,2,3,4]) -> (%y: f32[1,2,5,3]) {
              %u = resize(%x) {mode=linear, coordinates=half_pixel, nearest=floor, scales=[1.0,1.0,2.5,2.0]} : f32[1,2,7,8]
              %d = resize(%u) {mode=linear, coordinates=align_corners, nearest=floor, scales=[1.0,1.0,0.75,0.5]} : f32[1,2,5,4]
              %y = resize(%d) {mode=nearest, coordinates=asymmetric, nearest=floor, scales=[1.0,1.0,1.0,0.75]} : f32[1,2,5,3]
              return %y
            }
            """
        ),
        (
            "block relu and softmax",
            """
            graph @g(%x: f32[1,3,5,6]) -> (%y: f32[1,3,5,6]) {
              %b = block_relu(%x) {blocks=[2x3, id, 1x1]} : f32[1,3,5,6]
              %y = softmax(%b) {axis=1} : f32[1,3,5,6]
              return %y
            }
            """
        ),
    ]

    @Test(arguments: graphs.indices)
    func gradientsMatchFiniteDifferences(_ index: Int) throws {
        let (title, text) = Self.graphs[index]
        var generator = SeededGenerator(state: UInt64(7 + index))
        let graph = try Parser().parse(Self.fillRandom(text, &generator))
        for batch in [1, 3] {
            let engine = try FloatEngine(graph: try graph.rebatched(batch), fuseActivations: false)
            let input = engine.graph.inputs[0], output = engine.graph.outputs[0]
            let inputType = engine.graph.type(of: input), outputType = engine.graph.type(of: output)
            let x = (0..<inputType.elementCount).map { _ in Float.random(in: -1...1, using: &generator) }
            let v = (0..<outputType.elementCount).map { _ in Float.random(in: -1...1, using: &generator) }
            let cached = try engine.runKeepingValues([Tensor(shape: inputType.shape, floats: x)])
            let gradient = try engine.backward(cached, outputGradients: [Tensor(shape: outputType.shape, floats: v)], wanted: [input])[input]!.floats
            func f(_ point: [Float]) throws -> Double {
                let y = try engine.run([Tensor(shape: inputType.shape, floats: point)])[0].floats
                return zip(y, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            for _ in 0..<4 {
                let u = (0..<x.count).map { _ in Float.random(in: -1...1, using: &generator) }
                let eps: Float = 1e-3
                let plus = try f(zip(x, u).map { $0 + eps * $1 }), minus = try f(zip(x, u).map { $0 - eps * $1 })
                let numeric = (plus - minus) / (2 * Double(eps))
                let analytic = zip(gradient, u).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let scale = max(1, gradient.reduce(0.0) { $0 + abs(Double($1)) } / Double(gradient.count) * Double(x.count).squareRoot())
                #expect(abs(numeric - analytic) <= 2e-3 * scale, "\(title), batch \(batch): numeric \(numeric) analytic \(analytic)")
            }
        }
    }

    /// Max pooling routes each window's gradient to its largest input only.
    @Test func maxPoolRoutesToTheArgMax() throws {
        let graph = try Parser().parse(
            """
            graph @g(%x: f32[1,1,2,4]) -> (%y: f32[1,1,1,2]) {
              %y = max_pool(%x) {kernel=[2,2], strides=[2,2], pads=[0,0,0,0], dilations=[1,1], ceil_mode=false} : f32[1,1,1,2]
              return %y
            }
            """)
        let engine = try FloatEngine(graph: graph, fuseActivations: false)
        let cached = try engine.runKeepingValues([Tensor(shape: [1, 1, 2, 4], floats: [1, 5, 0, -1, 2, 3, -2, -3])])
        let x = graph.inputs[0]
        let gradient = try engine.backward(cached, outputGradients: [Tensor(shape: [1, 1, 1, 2], floats: [2, 7])], wanted: [x])[x]!
        #expect(gradient.floats == [0, 2, 7, 0, 0, 0, 0, 0])
    }

    /// Ops without a rule are named, and `backward` refuses them.
    @Test func unsupportedOpsAreNamed() throws {
        let graph = try Parser().parse(
            """
            graph @g(%x: f32[1,3,2,2]) -> (%y: i64[1,2,2]) {
              %r = relu(%x) : f32[1,3,2,2]
              %y = argmax(%r) {axis=1, keepdims=false, select_last_index=false} : i64[1,2,2]
              return %y
            }
            """)
        let engine = try FloatEngine(graph: graph, fuseActivations: false)
        let relu = graph.nodes[0].result
        #expect(engine.backwardUnsupported(from: [relu])?.hasPrefix("argmax") == true)
        let cached = try engine.runKeepingValues([Tensor(shape: [1, 3, 2, 2], floats: (0..<12).map(Float.init))])
        #expect(throws: EngineError.self) {
            _ = try engine.backward(cached, outputGradients: [Tensor(shape: [1, 2, 2], floats: Array(repeating: 1, count: 4))], wanted: [relu])
        }
    }

    /// Replaces each "constant f32[shape] random" by seeded values in [-1, 1].
    static func fillRandom(_ text: String, _ generator: inout SeededGenerator) -> String {
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasSuffix(" random"), let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]") else {
                lines.append(String(line))
                continue
            }
            let count = line[line.index(after: open)..<close].split(separator: ",").map { Int($0)! }.reduce(1, *)
            let values = (0..<count).map { _ in "\(Float.random(in: -1...1, using: &generator))" }.joined(separator: ", ")
            lines.append(line.dropLast(" random".count) + " [" + values + "]")
        }
        return lines.joined(separator: "\n")
    }
}

@Suite struct ChannelRerunTests {
    /// `rerunChannel` (a convolution reading the changed value adds the change's own
    /// convolution) gives what `rerun` gives with the whole changed tensor.
    @Test func matchesAFullRerun() throws {
        var generator = SeededGenerator(state: 3)
        let graph = try Parser().parse(BackwardTests.fillRandom(
            """
            graph @g(%x: f32[1,3,6,6]) -> (%y: f32[1,4,3,3]) {
              %w = constant f32[4,3,3,3] random
              %c = conv(%x, %w) {strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1} : f32[1,4,6,6]
              %r = relu(%c) : f32[1,4,6,6]
              %w2 = constant f32[4,4,3,3] random
              %b2 = constant f32[4] random
              %c2 = conv(%r, %w2, %b2) {strides=[2,2], pads=[1,1,1,1], dilations=[1,1], group=1} : f32[1,4,3,3]
              %p = max_pool(%r) {kernel=[2,2], strides=[2,2], pads=[0,0,0,0], dilations=[1,1], ceil_mode=false} : f32[1,4,3,3]
              %y = add(%c2, %p) : f32[1,4,3,3]
              return %y
            }
            """, &generator))
        let engine = try FloatEngine(graph: try graph.rebatched(2), fuseActivations: false)
        let input = Tensor(shape: [2, 3, 6, 6], floats: (0..<216).map { _ in Float.random(in: -1...1, using: &generator) })
        let cached = try engine.runKeepingValues([input])
        let relu = engine.graph.nodes.first { $0.op == .relu }!.result
        for channel in 0..<4 {
            let planes = (0..<72).map { _ in Float.random(in: -1...1, using: &generator) }
            var full = cached[relu.index]!.floats
            for sample in 0..<2 { for index in 0..<36 { full[(sample * 4 + channel) * 36 + index] = planes[sample * 36 + index] } }
            let expected = try engine.rerun(cached, replacing: relu, with: Tensor(shape: [2, 4, 6, 6], floats: full))[0].floats
            let actual = try engine.rerunChannel(cached, replacing: relu, channel: channel, with: planes)[0].floats
            #expect(zip(expected, actual).allSatisfy { abs($0 - $1) <= 1e-5 }, "channel \(channel)")
        }
    }
}
