/// Checks a program before anything runs: register domains by each instruction's kind,
/// then every result shape against its operands and attributes (each definition's
/// `verify`), weight shapes, outputs. After it passes, the interpreter and the emulator
/// index tensors without further checks. The decoder runs it on every program it
/// reads, and the lowering on every program it writes.
public struct ProgramVerifier {
    let program: Program

    public init(_ program: Program) { self.program = program }

    public func verify() throws {
        let inputs = program.instructions.filter { $0.opcode == .input }.count
        guard inputs == 1 else { throw BytecodeError("the program has \(inputs) inputs; it must have exactly one") }
        for (index, instruction) in program.instructions.enumerated() {
            do {
                try check(instruction, at: index)
            } catch let error as BytecodeError {
                throw BytecodeError("instruction %\(index) (\(instruction.opcode.mnemonic), from \(instruction.source)): \(error.message)")
            }
        }
        guard !program.outputs.isEmpty else { throw BytecodeError("the program has no outputs") }
        for output in program.outputs where program.instructions[output].domain != .revealed {
            throw BytecodeError("output %\(output) is not revealed to the client")
        }
    }

    private func check(_ instruction: Instruction, at index: Int) throws {
        let definition = instruction.operation.definition
        let kind = type(of: definition).kind
        let operands = instruction.operation.operands
        let context = VerificationContext(program: program, result: instruction.shape, domain: instruction.domain)
        try context.expect(operands.allSatisfy { $0 < index }, "an operand is not an earlier register")
        let domains = operands.map { program.instructions[$0].domain }
        switch kind.result {
        case .shared: try context.expect(instruction.domain.ring != nil, "the result is in the wrong domain (it must be shared)")
        case .revealed: try context.expect(instruction.domain == .revealed, "the result is in the wrong domain (it must be revealed)")
        case .operand: try context.expect(domains.first.map { $0 == instruction.domain } ?? true, "the result must stay in its operand's domain")
        }
        switch kind.operands {
        case .shared:
            if let index = domains.firstIndex(where: { $0.ring == nil }) { throw BytecodeError("operand %\(operands[index]) is not a shared register") }
        case .revealed:
            try context.expect(domains.allSatisfy { $0 == .revealed }, "\(type(of: definition).mnemonic) runs on a revealed register")
        case .operand:
            break
        }
        if kind.keepsRing && !type(of: definition).convertsRing, let index = domains.firstIndex(where: { $0 != instruction.domain }) {
            throw BytecodeError("operand %\(operands[index]) is in another ring than the result")
        }
        try definition.verify(context)
    }
}

/// What an instruction's `verify` sees: the result's shape, the program's registers and
/// weights, and the checks several instructions share.
public struct VerificationContext {
    let program: Program
    /// The shape of the instruction's result.
    public let result: [Int]
    /// The result's domain.
    public let domain: Domain

    public func shape(_ register: Int) -> [Int] { program.instructions[register].shape }
    public func elementCount(_ register: Int) -> Int { program.instructions[register].elementCount }
    public func weightShape(_ weight: Int) -> [Int] { program.weights[weight].shape }
    public func ring(_ register: Int) -> Ring? { program.instructions[register].domain.ring }

    /// A comparison's window must lie within the result's ring.
    public func expectWithinRing(_ comparison: Comparison) throws {
        let bits = domain.ring?.bits ?? 64
        try expect(comparison.bits + comparison.dropped <= bits, "the compared window (\(comparison.bits) bits from bit \(comparison.dropped)) exceeds the \(bits)-bit ring")
    }

    public func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw BytecodeError(message()) }
    }

    /// Elementwise on one operand: the result has its shape.
    public func expectSameShape(as x: Int) throws {
        try expect(result == shape(x), "result shape \(result) differs from the operand's \(shape(x))")
    }

    /// Elementwise on two operands: the result is their broadcast shape.
    public func expectBroadcast(_ a: Int, _ b: Int) throws {
        try expect(Self.broadcast(shape(a), shape(b)) == result, "operands \(shape(a)) and \(shape(b)) do not broadcast to \(result)")
    }

    /// A weight applied elementwise: it broadcasts onto the operand without growing it.
    public func expectWeightBroadcasts(_ weight: Int, onto x: Int) throws {
        try expect(result == shape(x) && Self.broadcast(shape(x), weightShape(weight)) == result, "weight does not broadcast onto \(shape(x))")
    }

    /// Pooling over the last two axes of [N, C, H, W].
    public func expectPooled(_ x: Int, _ window: Window) throws {
        let input = shape(x)
        try expect(input.count == 4, "pooling needs [N, C, H, W]")
        let oh = try Self.outputSize(input[2], kernel: window.kernel[0], stride: window.strides[0], padBegin: window.pads[0], padEnd: window.pads[2], dilation: window.dilations[0], ceil: window.ceilMode)
        let ow = try Self.outputSize(input[3], kernel: window.kernel[1], stride: window.strides[1], padBegin: window.pads[1], padEnd: window.pads[3], dilation: window.dilations[1], ceil: window.ceilMode)
        try expect(result == [input[0], input[1], oh, ow], "result shape \(result) is not \([input[0], input[1], oh, ow])")
        try expect(window.pads[0] < window.kernel[0] && window.pads[2] < window.kernel[0] && window.pads[1] < window.kernel[1] && window.pads[3] < window.kernel[1],
                   "pooling pads must be smaller than the kernel")
    }

    /// NumPy broadcasting of two shapes, or nil.
    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        let left = Array(repeating: 1, count: rank - a.count) + a, right = Array(repeating: 1, count: rank - b.count) + b
        var result: [Int] = []
        for (x, y) in zip(left, right) {
            guard x == y || x == 1 || y == 1 else { return nil }
            result.append(x == 1 ? y : x)
        }
        return result
    }

    /// Output length of a window sliding over `size` (ceil mode drops a window that
    /// would start in the end padding).
    static func outputSize(_ size: Int, kernel: Int, stride: Int, padBegin: Int, padEnd: Int, dilation: Int, ceil: Bool) throws -> Int {
        let extent = (kernel - 1) * dilation + 1
        let padded = size + padBegin + padEnd
        guard padded >= extent else { throw BytecodeError("the window (\(extent)) is larger than the padded input (\(padded))") }
        var count = (padded - extent) / stride + 1
        if ceil && (padded - extent) % stride != 0 {
            count += 1
            if (count - 1) * stride >= size + padBegin { count -= 1 }
        }
        return count
    }
}
