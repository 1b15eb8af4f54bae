import IR
import TestSupport
import Testing

@testable import Passes

/// The passes a case's RUN options select, as mpcc selects them: `--passes LIST`, or the
/// default pipeline less what `--keep-relu6` and `--keep-maxpool` keep out.
func passes(for options: [String]) throws -> [any Pass.Type] {
    var list: String?
    var keepReLU6 = false, keepMaxPool = false
    var rest = options[...]
    while let option = rest.popFirst() {
        switch option {
        case "--passes": list = rest.popFirst() ?? ""
        case "--keep-relu6": keepReLU6 = true
        case "--keep-maxpool": keepMaxPool = true
        default: throw TestFileError("unsupported RUN option \(option)")
        }
    }
    return try list.map { try PassRegistry.pipeline($0) } ?? PassRegistry.defaultPipeline(keepReLU6: keepReLU6, keepMaxPool: keepMaxPool)
}

/// A case run in process: its input and its result as `--emit ir` prints them, and the
/// passes that reported a change.
func run(_ passCase: PassCase) throws -> (input: String, output: String, changed: [String]) {
    var graph = try Parser().parse(passCase.input)
    let input = Printer().print(graph)
    let changed = try PassManager(passes: passes(for: passCase.options)).run(&graph)
    return (input, Printer().print(graph), changed)
}

/// Text in, text out, like MLIR's pass tests: every file in Tests/PassesTests/Cases (see
/// its README). `MPCC_UPDATE_GOLDEN=1 swift test --filter PassCaseTests` writes the
/// expected sections from the current passes (review the diff); serialized so that the
/// files are not read while they are rewritten.
@Suite(.serialized) struct PassCaseTests {
    @Test(arguments: PassCase.all())
    func caseFile(_ name: String) throws {
        let passCase = try PassCase(name)
        let result = try run(passCase)
        if getenvString("MPCC_UPDATE_GOLDEN") != nil {
            writeFile(passCase.path, Array(passCase.updated(expected: result.output).utf8))
            return
        }
        let expected = try #require(passCase.expected, "\(name) has no '\(PassCase.expectedMarker)' line")
        #expect(result.output == expected, "\(name) printed:\n\(result.output)")
        // A pass that reports no change must leave the graph as it was.
        if result.changed.isEmpty { #expect(result.output == result.input, "\(name): no pass reported a change, yet the graph differs") }
    }

    /// Each pass has a case it changes and a case it leaves alone, in Cases/<pass name>/.
    @Test func everyPassHasACaseThatChangesAndOneThatDoesNot() throws {
        for pass in PassRegistry.all {
            let cases = PassCase.all().filter { $0.hasPrefix(pass.name + "/") }
            let changes = try cases.map { try run(PassCase($0)).changed.contains(pass.name) }
            #expect(changes.contains(true), "no case in Cases/\(pass.name) that \(pass.name) changes")
            #expect(changes.contains(false), "no case in Cases/\(pass.name) that \(pass.name) leaves alone")
        }
    }
}

@Suite struct PassRegistryTests {
    @Test func pipelineParsing() throws {
        #expect(try PassRegistry.pipeline("fold-constants, remove-identity").map { $0.name } == ["fold-constants", "remove-identity"])
        let error = try #require(throws: IRError.self) { try PassRegistry.pipeline("fold-constants,nope") }
        #expect(error.message.contains("unknown pass 'nope'") && error.message.contains("fold-batchnorm"))
        #expect(!PassRegistry.defaultPipeline(keepReLU6: true, keepMaxPool: true).contains { $0.changesFunction })
        #expect(Set(PassRegistry.all.map { $0.name }).count == PassRegistry.all.count)
        for pass in PassRegistry.all {
            #expect(pass.name.allSatisfy { $0.isLowercase || $0 == "-" || $0.isNumber }, "\(pass.name) is not kebab-case")
        }
        #expect(ReLU6ToReLU.changesFunction && MaxPoolToAvgPool.changesFunction)
        #expect(!FoldBatchNorm.changesFunction && !FoldConstants.changesFunction)
    }

    /// --print-pipeline's text reads back as the same pipeline.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func pipelineTextReadsBack(_ keepReLU6: Bool, _ keepMaxPool: Bool) throws {
        let pipeline = PassRegistry.defaultPipeline(keepReLU6: keepReLU6, keepMaxPool: keepMaxPool)
        let text = PassRegistry.text(of: pipeline)
        #expect(!text.contains(" "))
        #expect(try PassRegistry.pipeline(text).map { $0.name } == pipeline.map { $0.name })
        #expect(PassRegistry.text(of: []).isEmpty)
        #expect(try PassRegistry.pipeline("").isEmpty)
    }

    @Test func listingHasOneLinePerPass() {
        let lines = PassRegistry.listing()
        #expect(lines.count == PassRegistry.all.count)
        for (line, pass) in zip(lines, PassRegistry.all) {
            #expect(line.hasPrefix(pass.name + " ") && line.hasSuffix(pass.summary))
            #expect(line.contains(pass.changesFunction ? "changes the function" : "keeps the function"))
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
