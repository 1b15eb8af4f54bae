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

    /// How one IR node is lowered: its ring, for a conv or dense layer the weight bits
    /// that fit that ring (nil: the default choice), and the bits of the largest
    /// fixed-point magnitude its instructions hold on the calibration inputs (nil: not
    /// calibrated).
    struct NodePrecision {
        var ring = Ring.z64
        var weightBits: Int?
        var magnitudeBits: Int?
    }

    /// The ring and weight bits of `node`: Z_2^32 when its largest magnitude, times
    /// 2^headroom, fits the narrow truncation's range.
    func precision(of node: Node) -> NodePrecision {
        guard let narrow = options.narrowRing else { return NodePrecision() }
        if node.op.group == .linear, node.op.kind != .batchNorm, let w = constant(node.operands[1]) {
            return productPrecision(node, weight: w, narrow)
        }
        guard let bits = magnitudeBits(of: node, narrow) else { return NodePrecision() }
        if Ring.z32.holds(magnitudeBits: bits + narrow.headroomBits) { return NodePrecision(ring: .z32, magnitudeBits: bits) }
        // A pool left in Z_2^64 takes the wider multiplier.
        let wider = poolCount(node).map { Lowering.poolShift(count: $0, narrow: false) - Lowering.poolShift(count: $0, narrow: true) } ?? 0
        return NodePrecision(ring: .z64, magnitudeBits: bits + wider)
    }

    /// A conv or dense layer: its product carries f + w bits, so in Z_2^32 it takes the
    /// weight bits that leave the headroom, if those keep `narrowWeightSignificantBits`.
    private func productPrecision(_ node: Node, weight w: Tensor, _ narrow: NarrowRing) -> NodePrecision {
        let standard = productWeightBits(w)
        guard let output = largest([node.result], narrow), let input = largest([node.operands[0]], narrow) else { return NodePrecision() }
        let inputBits = Lowering.magnitudeBits(input) + f, outputBits = Lowering.magnitudeBits(output) + f
        let room = Ring.z32.bits - 2 - narrow.headroomBits - outputBits
        let bits = min(standard, room)
        guard bits >= Lowering.weightBits(w, significant: Lowering.narrowWeightSignificantBits), Ring.z32.holds(magnitudeBits: inputBits + narrow.headroomBits) else {
            return NodePrecision(magnitudeBits: max(inputBits, outputBits + standard))
        }
        return NodePrecision(ring: .z32, weightBits: bits, magnitudeBits: max(inputBits, outputBits + bits))
    }

    /// The largest calibrated magnitude of `values`, or nil when one is not calibrated.
    private func largest(_ values: [ValueID], _ narrow: NarrowRing) -> Double? {
        var result = 0.0
        for value in values {
            guard let found = narrow.largest[graph.name(of: value)] else { return nil }
            guard found.isFinite else { return .infinity }  // max() would drop a NaN
            result = max(result, Double(found))
        }
        return result
    }

    /// Bits of the largest fixed-point magnitude a node other than conv and dense holds:
    /// its operands' and result's calibrated magnitude at f bits, times what its lowering
    /// adds (patch sums, differences, pooling multipliers); nil for ops kept in Z_2^64.
    private func magnitudeBits(of node: Node, _ narrow: NarrowRing) -> Int? {
        guard let magnitude = largest(node.operands.filter { constant($0) == nil } + [node.result], narrow) else { return nil }
        func bits(_ scale: Double, extraBits: Int = 0) -> Int { Lowering.magnitudeBits(magnitude * scale) + f + extraBits }
        switch node.op {
        case .relu, .reshape, .identity, .transpose, .slice, .concat, .add, .sub, .pad:
            return bits(1)
        case .relu6:
            return bits(1, extraBits: 3)
        case .clip(let low, let high):
            let bound = Double(max(low.isFinite ? abs(low) : 0, high.isFinite ? abs(high) : 0))
            return bits(1 + bound / max(magnitude, 1e-30))
        case .blockReLU(let plan):
            return bits(Double(plan.blocks.filter(\.isPatch).map { $0.height * $0.width }.max() ?? 1))
        case .maxPool:
            return bits(2)
        case .argMax(let attributes):
            // Differences of candidates, and indices up to (n - 1) * 2^f.
            let candidates = graph.type(of: node.operands[0]).shape[attributes.axis]
            return max(bits(2), Int.bitWidth - (candidates - 1).leadingZeroBitCount + f)
        case .avgPool, .globalAvgPool:
            return bits(1, extraBits: Lowering.poolShift(count: poolCount(node)!, narrow: true))
        case .constant, .conv, .dense, .batchNorm, .mul, .div, .resize, .softmax:
            return nil
        }
    }

    /// One layer's ring in a program, for reports.
    public struct LayerRing: Sendable {
        public var name: String
        public var ring: Ring
        /// Bits between the largest calibrated fixed-point magnitude and the ring's
        /// truncation range (2^(bits - 2)); nil when not calibrated.
        public var headroomBits: Int?
    }

    /// The ring the lowering gives each computing node (epilogue excluded) under `options`.
    public static func layerRings(_ graph: Graph, options: Options) -> [LayerRing] {
        let lowering = Lowering(graph: graph, options: options)
        return graph.nodes.filter { $0.op.group != .constant && $0.op.group != .epilogue }.map { node in
            let precision = lowering.precision(of: node)
            let name = node.name.isEmpty ? graph.name(of: node.result) : node.name
            return LayerRing(name: name, ring: precision.ring, headroomBits: precision.magnitudeBits.map { precision.ring.bits - 2 - $0 })
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
        // Infinite or NaN (an overflowing float run): too large for any ring.
        guard x.isFinite else { return 1 << 20 }
        // x = m 2^e with 1 <= m < 2: e bits, one more unless x is 2^e exactly.
        return x > 1 ? Int(x.exponent) + (x.significandWidth == 0 ? 0 : 1) : 0
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
