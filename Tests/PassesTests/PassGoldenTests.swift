import IR
import TestSupport
import Testing

@testable import Passes

/// Runs `pass` on the IR `input` and compares the printed result with `expected`
/// (text in, text out, like MLIR's pass tests). Whitespace at line ends is ignored.
func check(_ pass: any Pass.Type, _ input: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    var graph = try Parser().parse(input)
    try PassManager(passes: [pass]).run(&graph)
    let printed = Printer(inlineConstantLimit: 16).print(graph)
    func normalize(_ text: String) -> [String] {
        text.split(separator: "\n").map { String($0.reversed().drop { $0 == " " }.reversed()) }.filter { !$0.isEmpty && !$0.hasPrefix("//") }
    }
    #expect(normalize(printed) == normalize(expected), "\(pass.name) produced:\n\(printed)", sourceLocation: sourceLocation)
}

@Suite struct PassGoldenTests {
    @Test func foldConstants() throws {
        try check(
            FoldConstants.self,
            """
            graph @g(%x: f32[2]) -> (%y: f32[2]) {
              %a = constant f32[2] [1.0, 2.0]
              %b = constant f32[2] [0.5, -4.0]
              %c = mul(%a, %b) : f32[2]
              %r = relu(%c) : f32[2]
              %y = add(%x, %r) : f32[2]
              return %y
            }
            """,
            """
            graph @g(%x: f32[2]) -> (%y: f32[2]) {
              %r = constant f32[2] [0.5, 0.0]
              %y = add(%x, %r) : f32[2]
              return %y
            }
            """)
    }

    @Test func removeIdentity() throws {
        try check(
            RemoveIdentity.self,
            """
            graph @g(%x: f32[1,2,3]) -> (%y: f32[1,6]) {
              %a = identity(%x) : f32[1,2,3]
              %b = transpose(%a) {perm=[0,1,2]} : f32[1,2,3]
              %c = pad(%b) {pads=[0,0,0,0,0,0], value=0.0} : f32[1,2,3]
              %d = reshape(%c) {shape=[1,2,3]} : f32[1,2,3]
              %e = relu(%d) : f32[1,2,3]
              %y = reshape(%e) {shape=[1,6]} : f32[1,6]
              return %y
            }
            """,
            """
            graph @g(%x: f32[1,2,3]) -> (%y: f32[1,6]) {
              %e = relu(%x) : f32[1,2,3]  // 2 channels, 6 DReLUs
              %y = reshape(%e) {shape=[1,6]} : f32[1,6]
              return %y
            }
            """)
    }

    @Test func foldBatchNormIntoConv() throws {
        try check(
            FoldBatchNorm.self,
            """
            graph @g(%x: f32[1,1,2,2]) -> (%y: f32[1,2,2,2]) {
              %w = constant f32[2,1,1,1] [1.0, 2.0]
              %c = conv(%x, %w) {strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1} : f32[1,2,2,2]
              %gamma = constant f32[2] [2.0, 3.0]
              %beta = constant f32[2] [1.0, -1.0]
              %mean = constant f32[2] [0.5, 1.0]
              %var = constant f32[2] [4.0, 9.0]
              %y = batch_norm(%c, %gamma, %beta, %mean, %var) {epsilon=0.0} : f32[1,2,2,2]
              return %y
            }
            """,
            """
            graph @g(%x: f32[1,1,2,2]) -> (%c: f32[1,2,2,2]) {
              %w#1 = constant f32[2,1,1,1] [1.0, 2.0]
              %c/bias = constant f32[2] [0.5, -2.0]
              %c = conv(%x, %w#1, %c/bias) {strides=[1,1], pads=[0,0,0,0], dilations=[1,1], group=1} : f32[1,2,2,2]
              return %c
            }
            """)
    }

    @Test func batchNormWithoutLayerBecomesScaleAndShift() throws {
        try check(
            FoldBatchNorm.self,
            """
            graph @g(%x: f32[1,2,1,1]) -> (%y: f32[1,2,1,1]) {
              %gamma = constant f32[2] [2.0, 3.0]
              %beta = constant f32[2] [1.0, -1.0]
              %mean = constant f32[2] [0.5, 1.0]
              %var = constant f32[2] [4.0, 9.0]
              %y = batch_norm(%x, %gamma, %beta, %mean, %var) {epsilon=0.0} : f32[1,2,1,1]
              return %y
            }
            """,
            """
            graph @g(%x: f32[1,2,1,1]) -> (%y: f32[1,2,1,1]) {
              %y/scale = constant f32[2,1,1] [1.0, 1.0]
              %y/shift = constant f32[2,1,1] [0.5, -2.0]
              %y/scaled = mul(%x, %y/scale) : f32[1,2,1,1]
              %y = add(%y/scaled, %y/shift) : f32[1,2,1,1]
              return %y
            }
            """)
    }

    @Test func foldScaleShiftIntoDense() throws {
        try check(
            FoldScaleShift.self,
            """
            graph @g(%x: f32[1,2]) -> (%y: f32[1,2]) {
              %w = constant f32[2,2] [1.0, 2.0, 3.0, 4.0]
              %b = constant f32[2] [1.0, 1.0]
              %d = dense(%x, %w, %b) : f32[1,2]
              %s = constant f32[2] [2.0, -1.0]
              %m = mul(%s, %d) : f32[1,2]
              %t = constant f32[1] [0.5]
              %y = sub(%m, %t) : f32[1,2]
              return %y
            }
            """,
            """
            graph @g(%x: f32[1,2]) -> (%d: f32[1,2]) {
              %w#2 = constant f32[2,2] [2.0, 4.0, -3.0, -4.0]
              %b#2 = constant f32[2] [1.5, -1.5]
              %d = dense(%x, %w#2, %b#2) : f32[1,2]
              return %d
            }
            """)
    }

    @Test func scaleOfASharedResultIsNotFolded() throws {
        let input = """
            graph @g(%x: f32[1,2]) -> (%y: f32[1,2], %d: f32[1,2]) {
              %w = constant f32[2,2] [1.0, 2.0, 3.0, 4.0]
              %d = dense(%x, %w) : f32[1,2]
              %s = constant f32[2] [2.0, -1.0]
              %y = mul(%d, %s) : f32[1,2]
              return %y, %d
            }
            """
        try check(FoldScaleShift.self, input, input)
    }

    @Test func accuracyChangingRewrites() throws {
        try check(
            ReLU6ToReLU.self,
            """
            graph @g(%x: f32[1,1,4,4]) -> (%y: f32[1,1,4,4]) {
              %y = relu6(%x) : f32[1,1,4,4]
              return %y
            }
            """,
            """
            graph @g(%x: f32[1,1,4,4]) -> (%y: f32[1,1,4,4]) {
              %y = relu(%x) : f32[1,1,4,4]  // 1 channels, 16 DReLUs
              return %y
            }
            """)
        try check(
            MaxPoolToAvgPool.self,
            """
            graph @g(%x: f32[1,1,4,4]) -> (%y: f32[1,1,2,2]) {
              %y = max_pool(%x) {kernel=[3,3], strides=[2,2], pads=[1,1,1,1], dilations=[1,1], ceil_mode=false} : f32[1,1,2,2]
              return %y
            }
            """,
            """
            graph @g(%x: f32[1,1,4,4]) -> (%y: f32[1,1,2,2]) {
              %y = avg_pool(%x) {kernel=[3,3], strides=[2,2], pads=[1,1,1,1], dilations=[1,1], ceil_mode=false, count_include_pad=true} : f32[1,1,2,2]
              return %y
            }
            """)
        #expect(ReLU6ToReLU.changesFunction && MaxPoolToAvgPool.changesFunction)
        #expect(!FoldBatchNorm.changesFunction && !FoldConstants.changesFunction)
    }

    @Test func pipelineParsing() throws {
        #expect(try PassRegistry.pipeline("fold-constants, remove-identity").map { $0.name } == ["fold-constants", "remove-identity"])
        let error = try #require(throws: IRError.self) { try PassRegistry.pipeline("fold-constants,nope") }
        #expect(error.message.contains("unknown pass 'nope'") && error.message.contains("fold-batchnorm"))
        #expect(!PassRegistry.defaultPipeline(keepReLU6: true, keepMaxPool: true).contains { $0.changesFunction })
        #expect(Set(PassRegistry.all.map { $0.name }).count == PassRegistry.all.count)
        for pass in PassRegistry.all {
            #expect(pass.name.allSatisfy { $0.isLowercase || $0 == "-" || $0.isNumber }, "\(pass.name) is not kebab-case")
        }
    }

    @Test func managerReportsThePassThatBreaksTheGraph() throws {
        struct Breaker: Pass {
            static let name = "breaker"
            static let summary = "changes a result type"
            func run(on graph: inout Graph) throws -> Bool {
                graph.setType(TensorType(.f32, [7]), of: graph.nodes[0].result)
                return true
            }
        }
        var graph = try Parser().parse("graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%x) : f32[2]\n  return %y\n}\n")
        let error = try #require(throws: IRError.self) { try PassManager(passes: [Breaker.self]).run(&graph) }
        #expect(error.message.hasPrefix("after pass breaker"))
    }
}
