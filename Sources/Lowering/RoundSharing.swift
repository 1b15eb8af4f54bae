import Bytecode

/// Independent comparisons and truncations share their rounds. The parties run the
/// program in order, one interactive instruction after another, so two ReLUs of parallel
/// branches (Inception's, the ASPP's, a shortcut beside its block) cost twice the rounds
/// of one. This re-emits the program level by level, a register's level being the
/// number of interactive instructions on the longest path to it (those of one level
/// never depend on each other), and at each level makes the ReLUs with the same
/// comparison and the truncations with the same bits one instruction over their
/// concatenation: each operand flattened to [1, n], concatenated along axis 1, the
/// results sliced and reshaped back. Reshapes, concatenation and slices are local data
/// movement, so the bytes and the values are those of the separate instructions.
enum RoundSharing {
    /// What may share one instruction: the same operation but for its operand, in the
    /// same rings.
    struct Key: Hashable {
        var opcode: Opcode
        var comparison: Comparison?
        var bits: Int?
        var exact: Bool?
        var operandDomain: UInt8
        var domain: UInt8
    }

    static func key(_ instruction: Instruction, in program: Program) -> Key? {
        func domain(of register: Int) -> UInt8 { program.instructions[register].domain.rawValue }
        switch instruction.operation {
        case .relu(let relu):
            return Key(opcode: .relu, comparison: relu.comparison, operandDomain: domain(of: relu.x), domain: instruction.domain.rawValue)
        case .trunc(let trunc):
            return Key(opcode: .trunc, bits: trunc.bits, exact: trunc.exact, operandDomain: domain(of: trunc.x), domain: instruction.domain.rawValue)
        default:
            return nil
        }
    }

    /// A mergeable operation (`key` is not nil) reading `register`.
    static func reading(_ register: Int, like operation: Operation) -> Operation {
        switch operation {
        case .relu(let relu): return .relu(ReLU(register, comparison: relu.comparison))
        case .trunc(let trunc): return .trunc(Trunc(register, bits: trunc.bits, exact: trunc.exact))
        default: preconditionFailure("\(operation.opcode) is not merged")
        }
    }

    /// Each instruction's level: interactive ones and reveals add one to their operands'.
    static func levels(_ program: Program) -> [Int] {
        var levels: [Int] = []
        for instruction in program.instructions {
            let base = instruction.operation.operands.map { levels[$0] }.max() ?? 0
            let kind = instruction.operation.kind
            levels.append(base + (kind == .interactive || kind == .reveal ? 1 : 0))
        }
        return levels
    }

    /// The program with the mergeable instructions of each level merged; costs are
    /// annotated afterwards.
    static func shared(_ program: Program) -> Program {
        let levels = levels(program)
        var byLevel = [[Int]](repeating: [], count: (levels.max() ?? 0) + 1)
        for (index, level) in levels.enumerated() { byLevel[level].append(index) }
        var emitter = Emitter(original: program)
        for indices in byLevel {
            var groups: [Key: [Int]] = [:], order: [Key] = []
            for index in indices {
                guard let key = key(program.instructions[index], in: program) else { continue }
                if groups[key] == nil { order.append(key) }
                groups[key, default: []].append(index)
            }
            let merged = Set(order.flatMap { groups[$0]!.count > 1 ? groups[$0]! : [] })
            // This level's interactive instructions first: the others of the level may read them.
            for index in indices where program.instructions[index].operation.kind == .interactive && !merged.contains(index) { emitter.copy(index) }
            for key in order where groups[key]!.count > 1 { emitter.merge(groups[key]!) }
            for index in indices where program.instructions[index].operation.kind != .interactive { emitter.copy(index) }
        }
        var result = program
        result.instructions = emitter.instructions
        result.outputs = program.outputs.map { emitter.renumbered[$0] }
        return result
    }

    /// The re-emitted instructions and where each original register went.
    struct Emitter {
        let original: Program
        var instructions: [Instruction] = []
        var renumbered: [Int]

        init(original: Program) {
            self.original = original
            renumbered = [Int](repeating: -1, count: original.instructions.count)
        }

        mutating func append(_ operation: Operation, shape: [Int], domain: Domain, source: String) -> Int {
            instructions.append(Instruction(operation, shape: shape, domain: domain, source: source))
            return instructions.count - 1
        }

        mutating func copy(_ index: Int) {
            let instruction = original.instructions[index]
            renumbered[index] = append(instruction.operation.renumbered(renumbered), shape: instruction.shape, domain: instruction.domain, source: instruction.source)
        }

        /// One instruction for `group` (same key), over its operands flattened and
        /// concatenated; each original register becomes its slice, reshaped back.
        mutating func merge(_ group: [Int]) {
            let members = group.map { original.instructions[$0] }
            let operands = members.map { renumbered[$0.operation.operands[0]] }
            let sizes = members.map(\.elementCount)
            let flat = zip(operands, sizes).map { operand, size in
                append(.reshape(Reshape(operand)), shape: [1, size], domain: instructions[operand].domain, source: instructions[operand].source)
            }
            let total = sizes.reduce(0, +)
            let source = members.map(\.source).joined(separator: " + ")
            let all = append(.concat(Concat(flat, axis: 1)), shape: [1, total], domain: instructions[flat[0]].domain, source: source)
            let one = append(RoundSharing.reading(all, like: members[0].operation), shape: [1, total], domain: members[0].domain, source: source)
            var offset = 0
            for (index, member) in zip(group, members) {
                let part = append(.slice(Slice(one, starts: [0, offset], steps: [1, 1])), shape: [1, member.elementCount], domain: member.domain, source: member.source)
                renumbered[index] = append(.reshape(Reshape(part)), shape: member.shape, domain: member.domain, source: member.source)
                offset += member.elementCount
            }
        }
    }
}
