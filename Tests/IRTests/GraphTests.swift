import Testing

@testable import IR

/// conv -> relu -> global pool -> reshape -> dense, built by hand.
func smallClassifier() throws -> Graph {
    var graph = Graph(name: "small")
    let x = graph.addInput(name: "input", type: TensorType(.f32, [1, 2, 5, 5]))
    let w = graph.addConstant(Tensor(shape: [3, 2, 3, 3], floats: Array(repeating: 0.1, count: 54)), name: "conv.weight")
    let conv = try graph.append(.conv(Conv2D(pads: [1, 1, 1, 1])), [x, w], name: "conv_out", node: "/conv/Conv")
    let relu = try graph.append(.relu, [conv], name: "relu_out", node: "/relu/Relu")
    let pooled = try graph.append(.globalAvgPool, [relu], name: "pooled", node: "/pool")
    let flat = try graph.append(.reshape(shape: [1, 3]), [pooled], name: "flat", node: "/flatten")
    let fc = graph.addConstant(Tensor(shape: [2, 3], floats: [1, 0, -1, 0.5, 0.5, 0.5]), name: "fc.weight")
    graph.outputs = [try graph.append(.dense, [flat, fc], name: "logits", node: "/fc/Gemm")]
    return graph
}

@Suite struct GraphTests {
    @Test func builderInfersTypesAndVerifies() throws {
        let graph = try smallClassifier()
        try Verifier.verify(graph)
        #expect(graph.type(of: graph.outputs[0]) == TensorType(.f32, [1, 2]))
        #expect(graph.nodes.count == 7)
    }

    @Test func builderRejectsMismatchedOperands() throws {
        var graph = try smallClassifier()
        let logits = graph.outputs[0]
        #expect(throws: IRError.self) { try graph.append(.conv(Conv2D()), [logits, logits], name: "bad") }
        #expect(throws: IRError.self) { try graph.append(.relu, [ValueID(999)], name: "bad") }
    }

    @Test func namesStayUnique() throws {
        var graph = Graph(name: "g")
        let a = graph.addInput(name: "x", type: TensorType(.f32, [2]))
        let b = try graph.append(.relu, [a], name: "x")
        let c = try graph.append(.relu, [b], name: "x")
        #expect([graph.name(of: a), graph.name(of: b), graph.name(of: c)] == ["x", "x#1", "x#2"])
    }

    @Test func verifierCatchesUseBeforeDefinition() throws {
        var graph = try smallClassifier()
        graph.nodes.swapAt(2, 3)  // relu now reads conv_out before the conv
        let error = try #require(throws: IRError.self) { try Verifier.verify(graph) }
        #expect(error.message.contains("before it is defined"))
    }

    @Test func verifierCatchesWrongResultType() throws {
        var graph = try smallClassifier()
        graph.setType(TensorType(.f32, [1, 3, 5, 4]), of: graph.nodes[2].result)
        let error = try #require(throws: IRError.self) { try Verifier.verify(graph) }
        #expect(error.message.contains("shape inference gives f32[1,3,5,5]"))
    }

    @Test func verifierCatchesDoubleDefinitionAndMissingOutputs() throws {
        var graph = try smallClassifier()
        graph.nodes.append(graph.nodes[3])
        #expect(throws: IRError.self) { try Verifier.verify(graph) }
        var noOutputs = try smallClassifier()
        noOutputs.outputs = []
        #expect(throws: IRError.self) { try Verifier.verify(noOutputs) }
    }

    @Test func verifierEnforcesTheStagesOpSet() throws {
        let graph = try smallClassifier()
        let allowed: Set<String> = ["constant", "conv", "relu", "global_avg_pool", "reshape"]
        let error = try #require(throws: IRError.self) { try Verifier.verify(graph, allowedOps: allowed) }
        #expect(error.message.contains("dense '/fc/Gemm' is not allowed"))
    }

    @Test func deadCodeIsRemovedAndValuesRenumbered() throws {
        var graph = try smallClassifier()
        let relu = graph.nodes[2].result
        _ = try graph.append(.relu6, [relu], name: "unused")
        #expect(graph.nodes.count == 8)
        graph.eliminateDeadCode()
        try Verifier.verify(graph)
        #expect(graph.nodes.count == 7)
        #expect(graph.values.count == 8)
        #expect(!graph.values.contains { $0.name == "unused" })
    }

    /// A model that declares labels is measured on the scores its argmax reads; other
    /// outputs stay.
    @Test func scoresBeforeArgMax() throws {
        let graph = try Parser().parse("""
            graph @g(%x: f32[1,3,2,2]) -> (%labels: i64[1,2,2], %r: f32[1,3,2,2]) {
              %r = relu(%x) : f32[1,3,2,2]
              %s = softmax(%r) {axis=1} : f32[1,3,2,2]
              %labels = argmax(%s) {axis=1, keepdims=false, select_last_index=false} : i64[1,2,2]
              return %labels, %r
            }
            """)
        let scores = graph.scoresBeforeArgMax()
        try Verifier.verify(scores)
        #expect(scores.outputs.map { scores.name(of: $0) } == ["s", "r"])
        #expect(scores.nodes.map(\.op.mnemonic) == ["relu", "softmax"])
        let plain = try smallClassifier()
        #expect(plain.scoresBeforeArgMax().outputs == plain.outputs)
    }
}
