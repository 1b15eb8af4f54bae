import IR

/// One rewrite of the IR. Each pass has a stable kebab-case name (used by `--passes`)
/// and a one-line summary; passes that change the network's function say so.
public protocol Pass: Sendable {
    static var name: String { get }
    static var summary: String { get }
    /// True for rewrites that trade accuracy for cost (relu6-to-relu, maxpool-to-avgpool).
    static var changesFunction: Bool { get }
    init()
    /// Rewrites `graph` in place; returns whether anything changed. A pass that changes
    /// nothing leaves the graph untouched.
    func run(on graph: inout Graph) throws -> Bool
}

extension Pass {
    public static var changesFunction: Bool { false }
}

/// Every pass, in the order the default pipeline runs them.
public enum PassRegistry {
    public static let all: [any Pass.Type] = [
        FoldConstants.self, RemoveIdentity.self, FoldBatchNorm.self, FoldScaleShift.self, ArgMaxOfLogits.self, ReLU6ToReLU.self,
        MaxPoolToAvgPool.self,
    ]

    public static func named(_ name: String) -> (any Pass.Type)? { all.first { $0.name == name } }

    /// The pipeline `mpcc` runs: everything, less the accuracy-changing rewrites the user
    /// keeps out (`--keep-relu6`, `--keep-maxpool`).
    public static func defaultPipeline(keepReLU6: Bool = false, keepMaxPool: Bool = false) -> [any Pass.Type] {
        all.filter { pass in
            !(keepReLU6 && pass == ReLU6ToReLU.self) && !(keepMaxPool && pass == MaxPoolToAvgPool.self)
        }
    }

    /// `passes` as the comma-separated text `pipeline(_:)` reads back (`--print-pipeline`).
    public static func text(of passes: [any Pass.Type]) -> String { passes.map { $0.name }.joined(separator: ",") }

    /// One line per pass, in pipeline order: its name, whether it keeps or changes the
    /// network's function, and its summary (`--list-passes`).
    public static func listing() -> [String] {
        let width = all.map { $0.name.count }.max() ?? 0
        return all.map { pass in
            let name = pass.name + String(repeating: " ", count: width + 2 - pass.name.count)
            return name + (pass.changesFunction ? "changes the function  " : "keeps the function    ") + pass.summary
        }
    }

    /// Parses `a,b,c` into passes; an unknown name is an error that lists the known ones.
    public static func pipeline(_ text: String) throws -> [any Pass.Type] {
        try text.split(separator: ",").map { part in
            let name = part.trimmingCharacters(in: " ")
            guard let pass = named(name) else {
                throw IRError("unknown pass '\(name)'; passes: \(all.map { $0.name }.joined(separator: ", "))")
            }
            return pass
        }
    }
}

/// Runs passes in order. After every pass it removes dead nodes and verifies the graph,
/// so a pass that breaks an invariant is caught where it happens.
public struct PassManager {
    public var passes: [any Pass.Type]
    /// Called after each pass with its name and the graph (`--print-after-all`).
    public var afterEach: ((String, Graph) -> Void)?

    public init(passes: [any Pass.Type], afterEach: ((String, Graph) -> Void)? = nil) {
        self.passes = passes
        self.afterEach = afterEach
    }

    /// Returns the names of the passes that changed something.
    @discardableResult
    public func run(_ graph: inout Graph) throws -> [String] {
        try Verifier.verify(graph)
        var changed: [String] = []
        for pass in passes {
            if try pass.init().run(on: &graph) {
                changed.append(pass.name)
                graph.eliminateDeadCode()
            }
            do {
                try Verifier.verify(graph)
            } catch let error as IRError {
                throw IRError("after pass \(pass.name): \(error.message)")
            }
            afterEach?(pass.name, graph)
        }
        return changed
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
