import Testing

@testable import IR

@Suite struct PrinterTests {
    @Test func printsTheDocumentedForm() throws {
        let text = Printer().print(try smallClassifier())
        let expected = """
            graph @small(%input: f32[1,2,5,5]) -> (%logits: f32[1,2]) {
              %conv.weight = constant f32[3,2,3,3] {54 values}
              %conv_out = conv(%input, %conv.weight) {strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1} : f32[1,3,5,5] loc("/conv/Conv")
              %relu_out = relu(%conv_out) : f32[1,3,5,5] loc("/relu/Relu")  // 3 channels, 75 DReLUs
              %pooled = global_avg_pool(%relu_out) : f32[1,3,1,1] loc("/pool")
              %flat = reshape(%pooled) {shape=[1,3]} : f32[1,3] loc("/flatten")
              %fc.weight = constant f32[2,3] {6 values}
              %logits = dense(%flat, %fc.weight) : f32[1,2] loc("/fc/Gemm")
              return %logits
            }
            // 7 nodes, 1 ReLU layers (3 channels), 75 DReLUs

            """
        #expect(text == expected)
    }

    @Test func quotesNamesThatNeedIt() throws {
        var graph = Graph(name: "main graph")
        let x = graph.addInput(name: "onnx::Conv_1", type: TensorType(.f32, [2]))
        graph.outputs = [try graph.append(.relu, [x], name: "a \"b\"\n", node: "n")]
        let text = Printer().print(graph)
        #expect(text.hasPrefix("graph @\"main graph\"(%\"onnx::Conv_1\": f32[2]) -> (%\"a \\\"b\\\"\\n\": f32[2]) {"))
    }

    @Test func smallConstantsPrintInline() throws {
        var graph = Graph(name: "g")
        let x = graph.addInput(name: "x", type: TensorType(.f32, [4]))
        let c = graph.addConstant(Tensor(shape: [4], floats: [0.5, -1, 1e-05, .infinity]), name: "c")
        graph.outputs = [try graph.append(.add, [x, c], name: "y")]
        #expect(Printer().print(graph).contains("%c = constant f32[4] [0.5, -1.0, 1e-05, inf]"))
    }

    @Test func blockReLUPlansPrintRunLengthEncoded() throws {
        var graph = Graph(name: "g")
        let x = graph.addInput(name: "x", type: TensorType(.f32, [1, 7, 6, 6]))
        let blocks = [BlockSize(2, 2), BlockSize(2, 2), BlockSize(2, 2), .identity, .zero, .zero, .relu]
        graph.outputs = [try graph.append(.blockReLU(BlockReLUPlan(blocks: blocks)), [x], name: "y")]
        let text = Printer().print(graph)
        #expect(text.contains("{blocks=[2x2*3, id, zero*2, 1x1]}"))
        #expect(text.contains("// 7 channels, 63 DReLUs"))
    }
}
