import SharedKernels
// Instructions built on the sign-and-select protocol (Runtime/PROTOCOLS.md): the DReLU of
// shared values, then each selected pixel times its value's sign bit.

/// How a DReLU compares: the sign of the `bits`-bit window of each value that starts
/// `dropped` bits up, by a carry-lookahead tree of `radix` (2 or 4) nodes a group
/// (`ComparisonCircuit`). `bits == 64, dropped == 0` is the exact sign.
public struct Comparison: Sendable, Hashable {
    public var bits: Int
    public var dropped: Int
    public var radix: Int
    public init(bits: Int = 64, dropped: Int = 0, radix: Int = 2) {
        self.bits = bits
        self.dropped = dropped
        self.radix = radix
    }
    public static let exact = Comparison()
    /// The exact sign of a value in `ring`: its whole width.
    public static func exact(in ring: Ring, radix: Int = 2) -> Comparison { Comparison(bits: ring.bits, dropped: 0, radix: radix) }

    mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.integer("bits", &bits, Limits.comparedBits)
        try v.integer("dropped", &dropped, 0...(64 - bits))
        try v.integer("radix", &radix, Limits.radices)
    }
}

/// x where x > 0, else 0: one DReLU per element.
public struct ReLU: InstructionDefinition {
    public static let opcode = Opcode.relu
    public static let mnemonic = "relu"
    public static let kind = InstructionKind.interactive
    public static let summary = "x where x > 0, else 0"
    public var x = 0
    public var comparison = Comparison.exact
    public init() {}
    public init(_ x: Int, comparison: Comparison) { (self.x, self.comparison) = (x, comparison) }
    public var operation: Operation { .relu(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try comparison.visit(&v)
    }
    public func verify(_ context: VerificationContext) throws {
        try context.expectSameShape(as: x)
        try context.expectWithinRing(comparison)
    }
    public func cost(_ context: CostContext) -> Cost {
        CostModel.signAndSelect(values: context.elementCount, pixels: context.elementCount, comparison: comparison, ring: context.ring)
    }
    public var maskedWeight: Int? { nil }
}

/// Block ReLU of an [N, C, H, W] tensor: per channel, patches tile the map from the top
/// left; a patch is kept where its sum is positive, else zeroed. One block per channel.
public struct BlockReLU: InstructionDefinition {
    public static let opcode = Opcode.blockReLU
    public static let mnemonic = "block_relu"
    public static let kind = InstructionKind.interactive
    public static let summary = "per channel of [N,C,H,W]: patches tile the map from the top left (the last ones may be partial); "
        + "a patch is kept where its sum is > 0, else zeroed; identity channels pass, zero channels vanish"
    public var x = 0
    public var blocks: [BlockSize] = []
    public var comparison = Comparison.exact
    public init() {}
    public var operation: Operation { .blockReLU(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.blocks("blocks", &blocks)
        try comparison.visit(&v)
    }
    public func verify(_ context: VerificationContext) throws {
        try context.expectSameShape(as: x)
        let result = context.result
        try context.expect(result.count == 4 && blocks.count == result[1], "block_relu needs [N, C, H, W] and one block per channel")
        try context.expectWithinRing(comparison)
    }
    public func cost(_ context: CostContext) -> Cost {
        let shape = context.shape
        var patches = 0, pixels = 0, seeded = (values: 0, pixels: 0)
        for block in blocks where block.isPatch {
            patches += shape[0] * block.drelus(height: shape[2], width: shape[3])
            pixels += shape[0] * shape[2] * shape[3]
            for (area, count) in block.patchAreas(height: shape[2], width: shape[3])
            where CostModel.selectsBySeed(pixels: area, ring: context.ring) {
                seeded.values += shape[0] * count
                seeded.pixels += shape[0] * count * area
            }
        }
        return CostModel.signAndSelect(values: patches, pixels: pixels, seeded: seeded, comparison: comparison, ring: context.ring)
    }
    public var maskedWeight: Int? { nil }
}

/// Max pooling by a tree of comparisons; padded positions repeat a valid one.
public struct MaxPool: InstructionDefinition {
    public static let opcode = Opcode.maxPool
    public static let mnemonic = "max_pool"
    public static let kind = InstructionKind.interactive
    public static let summary = "max over each window by a tree of comparisons: candidates in window order (row, column), "
        + "adjacent pairs, odd last one passes; padded positions repeat the window's first valid value"
    public var x = 0
    public var window = Window()
    public var comparison = Comparison.exact
    public init() {}
    public var operation: Operation { .maxPool(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try window.visit(&v)
        try comparison.visit(&v)
    }
    public func verify(_ context: VerificationContext) throws {
        try context.expectPooled(x, window)
        // Bounds the cost model's byte counts (and the work): windows up to 2^16 x 2^16.
        let comparisons = context.result.reduce(1, *) * (window.kernel[0] * window.kernel[1] - 1)
        try context.expect(comparisons <= 1 << 40, "max pooling needs \(comparisons) comparisons, more than 2^40")
        try context.expectWithinRing(comparison)
    }
    public func cost(_ context: CostContext) -> Cost {
        // A tree of max(a, b) = b + relu(a - b) over each window's kh x kw values.
        var cost = Cost()
        var count = window.kernel[0] * window.kernel[1]
        while count > 1 {
            let pairs = count / 2
            let compared = context.elementCount * pairs
            cost = cost + CostModel.signAndSelect(values: compared, pixels: compared, comparison: comparison, ring: context.ring)
            count -= pairs
        }
        return cost
    }
    public var maskedWeight: Int? { nil }
}

/// The index of the largest value along an axis, on shares: a tree of comparisons over
/// the axis's candidates (adjacent pairs, the odd last one passes), each choosing the
/// larger value and its index with one sign-and-select; ties keep the first index, or
/// the last with `selectLastIndex`. Indices are fixed-point values (index * 2^f), so
/// the client receives only them.
public struct ArgMax: InstructionDefinition {
    public static let opcode = Opcode.argMax
    public static let mnemonic = "argmax"
    public static let kind = InstructionKind.interactive
    public static let summary = "index (times 2^f) of the largest value along an axis by a tree of comparisons: adjacent "
        + "candidates paired, odd last one passes; ties keep the first index (flags bit 2: the last)"
    public var x = 0
    public var axis = 0
    public var keepDims = true, selectLastIndex = false
    public var comparison = Comparison.exact
    public init() {}
    public var operation: Operation { .argMax(self) }
    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws {
        try v.operand("x", &x)
        try v.integer("axis", &axis, Limits.axis)
        var flags = (keepDims ? 1 : 0) | (selectLastIndex ? 2 : 0)
        try v.integer("flags", &flags, 0...3)
        keepDims = flags & 1 != 0
        selectLastIndex = flags & 2 != 0
        try comparison.visit(&v)
    }
    public func verify(_ context: VerificationContext) throws {
        var input = context.shape(x)
        try context.expect(axis < input.count, "argmax axis \(axis) is out of range")
        let candidates = input[axis]
        try context.expect(candidates >= 1, "argmax over an empty axis")
        if keepDims { input[axis] = 1 } else { input.remove(at: axis) }
        try context.expect(context.result == input, "result shape \(context.result) is not \(input)")
        try context.expectWithinRing(comparison)
        // The largest index, (candidates - 1) * 2^f, must be a positive value of the ring.
        let bits = context.domain.ring?.bits ?? 64
        let indexBits = Int.bitWidth - (candidates - 1).leadingZeroBitCount
        try context.expect(indexBits + context.program.fracBits <= bits - 1,
                           "argmax over \(candidates) candidates at \(context.program.fracBits) fractional bits exceeds the \(bits)-bit ring")
    }
    public func cost(_ context: CostContext) -> Cost {
        ArgMax.levels(candidates: context.program.instructions[x].shape[axis]).reduce(Cost()) { cost, level in
            let compared = context.elementCount * level.pairs
            return cost + CostModel.signAndSelect(values: compared, pixels: compared * (level.keepsValues ? 2 : 1),
                                                  comparison: comparison, ring: context.ring)
        }
    }
    public var maskedWeight: Int? { nil }

    /// The comparison tree's levels over `candidates` values: the pairs compared, and
    /// whether the larger values are selected too (every level but the last needs them;
    /// the last selects only the index).
    public static func levels(candidates: Int) -> [(pairs: Int, keepsValues: Bool)] {
        var levels: [(pairs: Int, keepsValues: Bool)] = []
        var count = candidates
        while count > 1 {
            let pairs = count / 2
            count -= pairs
            levels.append((pairs, count > 1))
        }
        return levels
    }
}
