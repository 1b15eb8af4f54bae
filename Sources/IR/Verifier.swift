/// Checks the invariants every stage relies on: SSA (each value defined once, before its
/// uses), result types equal to what shape inference derives, outputs defined, and
/// optionally that only some ops remain. Passes run it after every rewrite.
public enum Verifier {
    public static func verify(_ graph: Graph, allowedOps: Set<String>? = nil) throws {
        var defined = [Bool](repeating: false, count: graph.values.count)
        func define(_ value: ValueID, by what: String) throws {
            guard value.index >= 0, value.index < defined.count else {
                throw IRError("\(what) defines \(value), which is not in the value table")
            }
            guard !defined[value.index] else {
                throw IRError("value %\(graph.name(of: value)) is defined twice (again by \(what))")
            }
            defined[value.index] = true
        }
        for input in graph.inputs { try define(input, by: "a graph input") }

        for node in graph.nodes {
            let label = node.name.isEmpty ? node.op.mnemonic : "\(node.op.mnemonic) '\(node.name)'"
            if let allowedOps, !allowedOps.contains(node.op.mnemonic) {
                throw IRError("\(label) is not allowed at this stage")
            }
            for operand in node.operands {
                guard operand.index >= 0, operand.index < defined.count, defined[operand.index] else {
                    let name = operand.index >= 0 && operand.index < defined.count ? "%\(graph.name(of: operand))" : "\(operand)"
                    throw IRError("\(label) uses \(name) before it is defined")
                }
            }
            let expected: TensorType
            do {
                expected = try node.op.resultType(operands: node.operands.map { graph.type(of: $0) })
            } catch let error as IRError {
                throw IRError("\(label): \(error.message)")
            }
            try define(node.result, by: label)
            guard graph.type(of: node.result) == expected else {
                throw IRError("\(label) result %\(graph.name(of: node.result)) has type \(graph.type(of: node.result)), shape inference gives \(expected)")
            }
        }
        guard !graph.outputs.isEmpty else { throw IRError("the graph has no outputs") }
        for output in graph.outputs {
            guard output.index >= 0, output.index < defined.count, defined[output.index] else {
                throw IRError("graph output \(output) is never defined")
            }
        }
    }
}
