import Bytecode
import IR

/// Ring width per value: with `Options.narrowRing`, each IR node whose calibrated values,
/// times 2^headroom, fit the Z_2^32 truncation's range (|x| < 2^30 in units) runs in
/// Z_2^32; the rest stays in Z_2^64. Operands are converted where rings meet: `narrow`
/// (free) into Z_2^32, a `trunc` by 0 bits (one opening) back to Z_2^64.
extension Lowering {
    public struct NarrowRing: Sendable {
        /// The largest magnitude each IR value reaches on the calibration inputs, by name.
        public var largest: [String: Float]
        /// Values must stay below 2^30 / 2^headroomBits units: the factor by which a
        /// client's input may drive a value beyond what calibration saw.
        public var headroomBits: Int
        public init(largest: [String: Float], headroomBits: Int = Lowering.narrowHeadroomBits) {
            self.largest = largest
            self.headroomBits = headroomBits
        }
    }

    /// The default headroom of narrow values: 8 times the calibrated magnitude.
    public static let narrowHeadroomBits = 3
    /// Significant bits a narrow layer's weights keep at least (at their RMS magnitude).
    public static let narrowWeightSignificantBits = 10

    /// How one IR node is lowered: its ring and, for a conv or dense layer, the weight
    /// bits that fit that ring (nil: the default choice).
    struct NodePrecision {
        var ring = Ring.z64
        var weightBits: Int?
    }

    /// The ring and weight bits of `node`.
    func precision(of node: Node) -> NodePrecision {
        guard let narrow = options.narrowRing else { return NodePrecision() }
        let wide = NodePrecision()
        func largest(_ values: [ValueID]) -> Double? {
            let found = values.map { narrow.largest[graph.name(of: $0)] }
            guard found.allSatisfy({ $0 != nil }) else { return nil }
            return Double(found.map { $0! }.max() ?? 0)
        }
        let computed = node.operands.filter { constant($0) == nil }
        guard let magnitude = largest(computed + [node.result]) else { return wide }
        func fits(_ scale: Double, extraBits: Int = 0) -> Bool {
            Ring.z32.holds(magnitudeBits: Lowering.magnitudeBits(magnitude * scale) + f + extraBits + narrow.headroomBits)
        }
        switch node.op {
        case .conv, .dense:
            // The product (result) carries f + w bits; the input only f.
            guard let w = constant(node.operands[1]), let output = largest([node.result]), fits(1) else { return wide }
            let room = Ring.z32.bits - 2 - narrow.headroomBits - f - Lowering.magnitudeBits(output)
            let bits = min(productWeightBits(w), room)
            return bits >= Lowering.weightBits(w, significant: Lowering.narrowWeightSignificantBits) ? NodePrecision(ring: .z32, weightBits: bits) : wide
        case .relu, .reshape, .identity, .transpose, .slice, .concat, .add, .sub, .pad:
            return fits(1) ? NodePrecision(ring: .z32) : wide
        case .relu6:
            return fits(1, extraBits: 3) ? NodePrecision(ring: .z32) : wide
        case .clip(let low, let high):
            let bound = Double(max(low.isFinite ? abs(low) : 0, high.isFinite ? abs(high) : 0))
            return fits(1 + bound / max(magnitude, 1e-30)) ? NodePrecision(ring: .z32) : wide
        case .blockReLU(let plan):
            let area = plan.blocks.filter(\.isPatch).map { $0.height * $0.width }.max() ?? 1
            return fits(Double(area)) ? NodePrecision(ring: .z32) : wide
        case .maxPool:
            return fits(2) ? NodePrecision(ring: .z32) : wide
        case .avgPool(let pool):
            return fits(1, extraBits: Lowering.poolPrecision + (pool.kernel[0] * pool.kernel[1]).log2Ceiling) ? NodePrecision(ring: .z32) : wide
        case .globalAvgPool:
            let count = graph.type(of: node.operands[0]).shape.dropFirst(2).reduce(1, *)
            return fits(1, extraBits: Lowering.poolPrecision + count.log2Ceiling) ? NodePrecision(ring: .z32) : wide
        case .constant, .batchNorm, .mul, .div, .resize, .softmax, .argMax:
            return wide
        }
    }

    /// The ring of the client's input register.
    func inputRing(_ input: ValueID) -> Ring {
        guard let narrow = options.narrowRing, let largest = narrow.largest[graph.name(of: input)] else { return .z64 }
        return Ring.z32.holds(magnitudeBits: Lowering.magnitudeBits(Double(largest)) + f + narrow.headroomBits) ? .z32 : .z64
    }

    /// `register` in the current node's ring, converted once where rings differ.
    mutating func inNodeRing(_ register: Int) -> Int {
        let instruction = program.instructions[register]
        guard let have = instruction.domain.ring, have != ring else { return register }
        if let known = conversions[register] { return known }
        let converted = ring == .z32
            ? emit(Narrow(register), shape: instruction.shape, source: instruction.source)
            : emit(Trunc(register, bits: 0), shape: instruction.shape, source: instruction.source)
        conversions[register] = converted
        return converted
    }

    /// ceil(log2(x)) for x > 1, else 0: the bits of a magnitude's integer part.
    static func magnitudeBits(_ x: Double) -> Int {
        guard x > 1 else { return 0 }
        return x.isFinite ? Int((x - 1).exponent) + 1 : 1 << 20
    }

    /// The largest activation bits that let every conv and dense layer with a calibrated
    /// output run in Z_2^32 with `narrowWeightSignificantBits` weight bits; at least
    /// `floor` (layers that need fewer stay in Z_2^64) and at most `standard`.
    public static func narrowActivationBits(_ graph: Graph, _ narrow: NarrowRing, standard: Int, floor: Int = 10) -> Int {
        let constants = graph.constants()
        var bits = standard
        // Conv and dense layers: the linear group's members with a weight matrix.
        for node in graph.nodes where node.op.group == .linear && node.op.kind != .batchNorm {
            guard let w = constants[node.operands[1]] else { continue }
            bits = min(bits, narrowRoom(graph, narrow, node, w))
        }
        return max(floor, bits)
    }

    /// The activation bits that leave a layer's product `narrowWeightSignificantBits`
    /// weight bits in Z_2^32.
    private static func narrowRoom(_ graph: Graph, _ narrow: NarrowRing, _ node: Node, _ w: Tensor) -> Int {
        guard let largest = narrow.largest[graph.name(of: node.result)] else { return Int.max }
        return Ring.z32.bits - 2 - narrow.headroomBits - magnitudeBits(Double(largest)) - weightBits(w, significant: narrowWeightSignificantBits)
    }
}
