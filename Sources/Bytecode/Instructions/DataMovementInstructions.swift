// Data movement and resize. Reshape, transpose, slice and resize run on shares or, in
// the client's epilogue, on revealed floats; concat and pad run on shares only.

/// Same elements, the result register's shape.
public struct Reshape: DataMovementInstruction {
    public static let opcode = Opcode.reshape
    public static let mnemonic = "reshape"
    public static let summary = "same elements, the result's shape (either domain)"
    public var x = 0
    public init() {}
    public init(_ x: Int) { self.x = x }
    public var operation: Operation { .reshape(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws { try v.operand("x", &x) }
    public func verify(_ context: VerificationContext) throws {
        try context.expect(context.result.reduce(1, *) == context.elementCount(x), "reshape changes the element count")
    }
}

public struct Transpose: DataMovementInstruction {
    public static let opcode = Opcode.transpose
    public static let mnemonic = "transpose"
    public static let summary = "permuted axes (either domain)"
    public var x = 0
    public var perm: [Int] = []
    public init() {}
    public init(_ x: Int, perm: [Int]) { (self.x, self.perm) = (x, perm) }
    public var operation: Operation { .transpose(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integers("perm", &perm, count: 0...8, Limits.axis)
    }
    public func verify(_ context: VerificationContext) throws {
        let input = context.shape(x)
        try context.expect(perm.sorted() == Array(0..<input.count), "perm \(perm) is not a permutation of \(input.count) axes")
        try context.expect(context.result == perm.map { input[$0] }, "result shape \(context.result) is not the transposed \(input)")
    }
}

/// result[i] = x[start + i * step] per axis; the result register gives the sizes.
public struct Slice: DataMovementInstruction {
    public static let opcode = Opcode.slice
    public static let mnemonic = "slice"
    public static let summary = "result[i] = x[start + i*step] per axis (either domain)"
    public var x = 0
    public var starts: [Int] = [], steps: [Int] = []
    public init() {}
    public init(_ x: Int, starts: [Int], steps: [Int]) { (self.x, self.starts, self.steps) = (x, starts, steps) }
    public var operation: Operation { .slice(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integers("starts", &starts, count: 0...8, 0...Limits.dimension)
        try v.integers("steps", &steps, count: 0...8, -Limits.dimension...Limits.dimension)
    }
    public func verify(_ context: VerificationContext) throws {
        let input = context.shape(x), result = context.result
        try context.expect(starts.count == input.count && steps.count == input.count && result.count == input.count, "slice needs a start and step per axis")
        for axis in input.indices {
            try context.expect(steps[axis] != 0, "a slice step is zero")
            guard result[axis] > 0 else { continue }
            let last = starts[axis] + (result[axis] - 1) * steps[axis]
            try context.expect(starts[axis] < input[axis] && last >= 0 && last < input[axis], "slice reads outside axis \(axis) of \(input)")
        }
    }
}

/// Separable interpolation of the last two axes with public integer coefficients: each
/// output is sum over two rows and two columns of row weight x column weight x input,
/// weights out of 2^shift, so the result carries 2 x shift extra fractional bits on
/// shared registers. On revealed registers the same taps interpolate floats.
public struct Resize: DataMovementInstruction {
    public static let opcode = Opcode.resize
    public static let mnemonic = "resize"
    public static let summary = "last two axes: out = sum over rows and columns of (2^shift - w, w) blends of index0 and index1; "
        + "shared: 2*shift extra bits; revealed: floats with weights w / 2^shift"
    public var x = 0
    public var rows: [ResizeTap] = [], columns: [ResizeTap] = []
    public var shift = 0
    public init() {}
    public var operation: Operation { .resize(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("shift", &shift, 0...15)
        try v.taps("rows", &rows)
        try v.taps("columns", &columns)
    }
    public func verify(_ context: VerificationContext) throws {
        let input = context.shape(x), result = context.result
        try context.expect(input.count >= 2 && result.count == input.count && Array(result.dropLast(2)) == Array(input.dropLast(2)), "resize changes only the last two axes")
        try context.expect(rows.count == result[result.count - 2] && columns.count == result[result.count - 1], "resize needs one tap per output row and column")
        for (taps, size) in [(rows, input[input.count - 2]), (columns, input[input.count - 1])] {
            try context.expect(taps.allSatisfy { $0.index0 < size && $0.index1 < size && $0.weight <= 1 << shift }, "a resize tap is out of range")
        }
    }
}

/// One output coordinate of a resize: a blend of input positions index0 and index1 with
/// weight/2^shift on index1.
public struct ResizeTap: Sendable, Hashable {
    public var index0: Int
    public var index1: Int
    public var weight: Int
    public init(index0: Int, index1: Int, weight: Int) { (self.index0, self.index1, self.weight) = (index0, index1, weight) }
}

public struct Concat: LocalInstruction {
    public static let opcode = Opcode.concat
    public static let mnemonic = "concat"
    public static let summary = "concatenation along axis"
    public var xs: [Int] = []
    public var axis = 0
    public init() {}
    public init(_ xs: [Int], axis: Int) { (self.xs, self.axis) = (xs, axis) }
    public var operation: Operation { .concat(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operands("xs", &xs)
        try v.integer("axis", &axis, Limits.axis)
    }
    public func verify(_ context: VerificationContext) throws {
        try context.expect(!xs.isEmpty, "concat has no operands")
        let first = context.shape(xs[0])
        try context.expect(axis < first.count, "axis \(axis) is out of range")
        var expected = first
        expected[axis] = 0
        for x in xs {
            let s = context.shape(x)
            try context.expect(s.count == first.count && s.indices.allSatisfy { $0 == axis || s[$0] == first[$0] }, "concat operands disagree outside axis \(axis)")
            expected[axis] += s[axis]
        }
        try context.expect(context.result == expected, "result shape \(context.result) is not \(expected)")
    }
}

/// Constant padding with a public fixed-point value; begin amounts of every axis, then
/// end amounts.
public struct Pad: LocalInstruction {
    public static let opcode = Opcode.pad
    public static let mnemonic = "pad"
    public static let summary = "constant padding with a public fixed-point value"
    public var x = 0
    public var pads: [Int] = []
    public var value = 0
    public init() {}
    public init(_ x: Int, pads: [Int], value: Int) { (self.x, self.pads, self.value) = (x, pads, value) }
    public var operation: Operation { .pad(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integers("pads", &pads, count: 0...16, 0...Limits.dimension)
        try v.integer("value", &value, Int(Int64.min)...Int(Int64.max))
    }
    public func verify(_ context: VerificationContext) throws {
        let input = context.shape(x)
        try context.expect(pads.count == 2 * input.count, "pad needs begin and end amounts for every axis")
        try context.expect(context.result == input.indices.map { input[$0] + pads[$0] + pads[$0 + input.count] }, "result shape \(context.result) is not the padded \(input)")
    }
}
