import Bytecode
import IR

/// The client's part: ops after which nothing but such ops follow up to the outputs run
/// on the revealed output.
extension Lowering {
    /// Ops that may run after the reveal (IR's epilogue, rearrangement and interpolation
    /// groups) whose users are all in the epilogue.
    func epilogueNodes() -> Set<Int> {
        var users: [ValueID: [Int]] = [:]
        for (index, node) in graph.nodes.enumerated() { for operand in node.operands { users[operand, default: []].append(index) } }
        let outputs = Set(graph.outputs)
        var epilogue = Set<Int>()
        // Walk backwards: a node joins when every user is in the epilogue.
        for index in graph.nodes.indices.reversed() {
            let node = graph.nodes[index]
            guard node.op.mayRunAfterReveal else { continue }
            let uses = users[node.result] ?? []
            guard uses.allSatisfy({ epilogue.contains($0) }), !uses.isEmpty || outputs.contains(node.result) else { continue }
            epilogue.insert(index)
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
        case .argMax(let attributes):
            var argMax = ArgMax()
            (argMax.x, argMax.axis, argMax.keepDims, argMax.selectLastIndex) = (operand, attributes.axis, attributes.keepDims, attributes.selectLastIndex)
            return revealed(argMax)
        case .resize(let attributes):
            return revealed(try resizeTaps(attributes, input: program.instructions[operand].shape, x: operand))
        default:
            preconditionFailure("only softmax, argmax, resize and data movement join the epilogue")
        }
    }
}
