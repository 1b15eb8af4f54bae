/// Checks a decoded program before anything runs: register domains, every result shape
/// against its operands and attributes, weight shapes, outputs. After it passes, the
/// interpreter and the emulator index tensors without further checks.
struct ProgramVerifier {
    let program: Program

    init(_ program: Program) { self.program = program }

    func verify() throws {
        let inputs = program.instructions.filter { $0.opcode == .input }.count
        guard inputs == 1 else { throw BytecodeError("the program has \(inputs) inputs; it must have exactly one") }
        for (index, instruction) in program.instructions.enumerated() {
            do {
                try check(instruction)
            } catch let error as BytecodeError {
                throw BytecodeError("instruction %\(index) (\(instruction.opcode.mnemonic), from \(instruction.source)): \(error.message)")
            }
        }
        guard !program.outputs.isEmpty else { throw BytecodeError("the program has no outputs") }
        for output in program.outputs where program.instructions[output].domain != .revealed {
            throw BytecodeError("output %\(output) is not revealed to the client")
        }
    }

    private func shape(_ register: Int) -> [Int] { program.instructions[register].shape }
    private func domain(_ register: Int) -> Domain { program.instructions[register].domain }

    private func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw BytecodeError(message()) }
    }

    private func shared(_ registers: Int...) throws {
        for register in registers { try expect(domain(register) == .shared, "operand %\(register) is not a shared register") }
    }

    private func check(_ instruction: Instruction) throws {
        let result = instruction.shape
        if let operand = Self.domainFollowing(instruction) {
            try expect(instruction.domain == domain(operand), "the result must stay in its operand's domain")
        } else {
            try expect(instruction.domain == (Self.revealing.contains(instruction.opcode) ? .revealed : .shared), "the result is in the wrong domain")
        }
        switch instruction.operation {
        case is Input:
            break
        case let op as Constant:
            try expect(result == program.weights[op.weight].shape, "result shape \(result) differs from the weight's \(program.weights[op.weight].shape)")
        case let op as Reveal:
            try shared(op.x)
            try expect(result == shape(op.x), "result shape \(result) differs from the operand's \(shape(op.x))")
        case let op as Conv:
            try shared(op.x)
            let x = shape(op.x), w = program.weights[op.weight].shape
            try expect(x.count == 4 && w.count == 4 && w.allSatisfy { $0 > 0 }, "conv needs a rank-4 input and a rank-4 weight without empty axes")
            try expect(x[1] % op.group == 0 && w[0] % op.group == 0 && w[1] * op.group == x[1], "weight \(w) does not fit input \(x) with group \(op.group)")
            if let bias = op.bias { try expect(program.weights[bias].shape == [w[0]], "bias shape \(program.weights[bias].shape) is not [\(w[0])]") }
            let oh = try Self.outputSize(x[2], kernel: w[2], stride: op.strides[0], padBegin: op.pads[0], padEnd: op.pads[2], dilation: op.dilations[0], ceil: false)
            let ow = try Self.outputSize(x[3], kernel: w[3], stride: op.strides[1], padBegin: op.pads[1], padEnd: op.pads[3], dilation: op.dilations[1], ceil: false)
            try expect(result == [x[0], w[0], oh, ow], "result shape \(result) is not \([x[0], w[0], oh, ow])")
        case let op as Dense:
            try shared(op.x)
            let x = shape(op.x), w = program.weights[op.weight].shape
            try expect(w.count == 2 && x.last == w[1], "weight \(w) does not fit input \(x)")
            if let bias = op.bias { try expect(program.weights[bias].shape == [w[0]], "bias shape is not [\(w[0])]") }
            try expect(result == x.dropLast() + [w[0]], "result shape \(result) is not \(x.dropLast() + [w[0]])")
        case let op as Scale:
            try shared(op.x)
            try expect(result == shape(op.x) && Self.broadcast(shape(op.x), program.weights[op.weight].shape) == result, "weight does not broadcast onto \(shape(op.x))")
        case let op as AddWeight:
            try shared(op.x)
            try expect(result == shape(op.x) && Self.broadcast(shape(op.x), program.weights[op.weight].shape) == result, "weight does not broadcast onto \(shape(op.x))")
        case let op as Mul:
            try binary(op.a, op.b, result)
        case let op as Add:
            try binary(op.a, op.b, result)
        case let op as Sub:
            try binary(op.a, op.b, result)
        case let op as Neg:
            try unary(op.x, result)
        case let op as AddPublic:
            try unary(op.x, result)
        case let op as Trunc:
            try unary(op.x, result)
        case let op as ReLU:
            try unary(op.x, result)
        case let op as BlockReLU:
            try unary(op.x, result)
            try expect(result.count == 4 && op.blocks.count == result[1], "block_relu needs [N, C, H, W] and one block per channel")
        case let op as MaxPool:
            try shared(op.x)
            try pool(shape(op.x), op.window, result)
            // Bounds the cost model's byte counts (and the work): windows up to 2^16 x 2^16.
            let comparisons = result.reduce(1, *) * (op.window.kernel[0] * op.window.kernel[1] - 1)
            try expect(comparisons <= 1 << 40, "max pooling needs \(comparisons) comparisons, more than 2^40")
        case let op as AvgPool:
            try shared(op.x)
            try pool(shape(op.x), op.window, result)
        case let op as GlobalAvgPool:
            try shared(op.x)
            let x = shape(op.x)
            try expect(x.count >= 3 && result == Array(x.prefix(2)) + Array(repeating: 1, count: x.count - 2), "result shape \(result) is not the pooled \(x)")
        case let op as Reshape:
            try expect(result.reduce(1, *) == program.instructions[op.x].elementCount, "reshape changes the element count")
        case let op as Transpose:
            let x = shape(op.x)
            try expect(op.perm.sorted() == Array(0..<x.count), "perm \(op.perm) is not a permutation of \(x.count) axes")
            try expect(result == op.perm.map { x[$0] }, "result shape \(result) is not the transposed \(x)")
        case let op as Slice:
            let x = shape(op.x)
            try expect(op.starts.count == x.count && op.steps.count == x.count && result.count == x.count, "slice needs a start and step per axis")
            for axis in x.indices {
                try expect(op.steps[axis] != 0, "a slice step is zero")
                guard result[axis] > 0 else { continue }
                let last = op.starts[axis] + (result[axis] - 1) * op.steps[axis]
                try expect(op.starts[axis] < x[axis] && last >= 0 && last < x[axis], "slice reads outside axis \(axis) of \(x)")
            }
        case let op as Concat:
            try expect(!op.xs.isEmpty, "concat has no operands")
            for x in op.xs { try shared(x) }
            let first = shape(op.xs[0])
            try expect(op.axis < first.count, "axis \(op.axis) is out of range")
            var expected = first
            expected[op.axis] = 0
            for x in op.xs {
                let s = shape(x)
                try expect(s.count == first.count && s.indices.allSatisfy { $0 == op.axis || s[$0] == first[$0] }, "concat operands disagree outside axis \(op.axis)")
                expected[op.axis] += s[op.axis]
            }
            try expect(result == expected, "result shape \(result) is not \(expected)")
        case let op as Pad:
            try shared(op.x)
            let x = shape(op.x)
            try expect(op.pads.count == 2 * x.count, "pad needs begin and end amounts for every axis")
            try expect(result == x.indices.map { x[$0] + op.pads[$0] + op.pads[$0 + x.count] }, "result shape \(result) is not the padded \(x)")
        case let op as Resize:
            let x = shape(op.x)
            try expect(x.count >= 2 && result.count == x.count && Array(result.dropLast(2)) == Array(x.dropLast(2)), "resize changes only the last two axes")
            try expect(op.rows.count == result[result.count - 2] && op.columns.count == result[result.count - 1], "resize needs one tap per output row and column")
            for (taps, size) in [(op.rows, x[x.count - 2]), (op.columns, x[x.count - 1])] {
                try expect(taps.allSatisfy { $0.index0 < size && $0.index1 < size && $0.weight <= 1 << op.shift }, "a resize tap is out of range")
            }
        case let op as Softmax:
            try expect(domain(op.x) == .revealed, "softmax runs on a revealed register")
            try expect(op.axis < shape(op.x).count && result == shape(op.x), "bad softmax axis or shape")
        case let op as ArgMax:
            try expect(domain(op.x) == .revealed, "argmax runs on a revealed register")
            var x = shape(op.x)
            try expect(op.axis < x.count, "argmax axis \(op.axis) is out of range")
            if op.keepDims { x[op.axis] = 1 } else { x.remove(at: op.axis) }
            try expect(result == x, "result shape \(result) is not \(x)")
        default:
            throw BytecodeError("unknown operation")
        }
    }

    /// Data movement runs in either domain (the epilogue reshapes revealed outputs); its
    /// result follows its operand's.
    static func domainFollowing(_ instruction: Instruction) -> Int? {
        switch instruction.operation {
        case let op as Reshape: return op.x
        case let op as Transpose: return op.x
        case let op as Slice: return op.x
        case let op as Resize: return op.x
        default: return nil
        }
    }

    /// Operations whose result is a revealed (client plaintext) register.
    static let revealing: Set<Opcode> = [.reveal, .softmax, .argMax]


    private func unary(_ x: Int, _ result: [Int]) throws {
        try shared(x)
        try expect(result == shape(x), "result shape \(result) differs from the operand's \(shape(x))")
    }

    private func binary(_ a: Int, _ b: Int, _ result: [Int]) throws {
        try shared(a, b)
        try expect(Self.broadcast(shape(a), shape(b)) == result, "operands \(shape(a)) and \(shape(b)) do not broadcast to \(result)")
    }

    private func pool(_ x: [Int], _ window: Window, _ result: [Int]) throws {
        try expect(x.count == 4, "pooling needs [N, C, H, W]")
        let oh = try Self.outputSize(x[2], kernel: window.kernel[0], stride: window.strides[0], padBegin: window.pads[0], padEnd: window.pads[2], dilation: window.dilations[0], ceil: window.ceilMode)
        let ow = try Self.outputSize(x[3], kernel: window.kernel[1], stride: window.strides[1], padBegin: window.pads[1], padEnd: window.pads[3], dilation: window.dilations[1], ceil: window.ceilMode)
        try expect(result == [x[0], x[1], oh, ow], "result shape \(result) is not \([x[0], x[1], oh, ow])")
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
