import Bytecode
import IR

/// The client's part: a softmax when only data movement follows it up to the outputs,
/// and that data movement, run on the revealed output. Data movement and resize before it
/// stay on shares (linear, no messages but a resize's truncation), so the client receives
/// the output, not the tensor a trailing slice, resize or transpose would have been
/// computed from. Argmax is computed on shares (`SecureOps.swift`).
extension Lowering {
    /// Ops that may run after the reveal (IR's epilogue, rearrangement and interpolation
    /// groups) whose users are all in the epilogue, and that are a softmax or follow one.
    func epilogueNodes() -> Set<Int> {
        var users: [ValueID: [Int]] = [:]
        for (index, node) in graph.nodes.enumerated() { for operand in node.operands { users[operand, default: []].append(index) } }
        let outputs = Set(graph.outputs)
        var trailing = Set<Int>()
        // Walk backwards: a node joins when every user is in the trailing run.
        for index in graph.nodes.indices.reversed() {
            let node = graph.nodes[index]
            guard node.op.mayRunAfterReveal else { continue }
            let uses = users[node.result] ?? []
            guard uses.allSatisfy({ trailing.contains($0) }), !uses.isEmpty || outputs.contains(node.result) else { continue }
            trailing.insert(index)
        }
        // Forward: only a softmax and what follows it leave the shares.
        var epilogue = Set<Int>(), revealedValues = Set<ValueID>()
        for index in trailing.sorted() {
            let node = graph.nodes[index]
            guard node.op.group == .epilogue || node.operands.contains(where: { revealedValues.contains($0) }) else { continue }
            epilogue.insert(index)
            revealedValues.insert(node.result)
        }
        return epilogue
    }

    mutating func lowerEpilogue(_ node: Node, _ label: String) throws -> Lowered {
        let shape = graph.type(of: node.result).shape
        let operand: Int
        switch lowered[node.operands[0]] {
        case .shared(let register)?:
            operand = emit(Reveal(register), shape: program.instructions[register].shape, domain: .revealed, source: label)
        case .revealed(let register)?:
            operand = register
        default:
            throw LoweringError("\(node.op.mnemonic) '\(label)' has a constant operand")
        }
        func revealed(_ operation: some InstructionDefinition) -> Lowered { .revealed(emit(operation, shape: shape, domain: .revealed, source: label)) }
        switch node.op {
        case .reshape:
            return revealed(Reshape(operand))
        case .transpose(let perm):
            return revealed(Transpose(operand, perm: perm))
        case .slice(let starts, let steps, _):
            return revealed(Slice(operand, starts: starts, steps: steps))
        case .softmax(let axis):
            return revealed(Softmax(operand, axis: axis))
        case .resize(let attributes):
            return revealed(try resizeTaps(attributes, input: program.instructions[operand].shape, x: operand))
        default:
            preconditionFailure("only softmax, resize and data movement join the epilogue")
        }
    }
}
