import Bytecode
import IR

/// The fixed-point choices: weights and public constants at f (biases of products at
/// 2f) fractional bits, pooling and resize coefficients, and the DReLU windows.
extension Lowering {
    /// Significant bits a pooling multiplier round(2^shift / d) keeps at least.
    static let poolPrecision = 12

    /// The shift of a pooling multiplier for `count` values: in Z_2^64 the weights'
    /// most bits (the fixed point's headroom allows f + 24 for any product), so 1/9 is
    /// within 6e-8 rather than 3e-5 (random-weight Inception-v3 amplifies that to 1.5e-3
    /// of its output); at least `poolPrecision` significant bits for large counts; in
    /// Z_2^32 only `poolPrecision` (its room is smaller).
    static func poolShift(count: Int, narrow: Bool) -> Int {
        let least = poolPrecision + count.log2Ceiling
        return narrow ? least : max(maxWeightBits, least)
    }

    /// The values an average pool divides by: its window, or the whole map.
    func poolCount(_ node: Node) -> Int? {
        switch node.op {
        case .avgPool(let pool): return pool.kernel[0] * pool.kernel[1]
        case .globalAvgPool: return graph.type(of: node.operands[0]).shape.dropFirst(2).reduce(1, *)
        default: return nil
        }
    }
    /// Fractional bits of resize coefficients (bilinear weights are exact for 2^k scales;
    /// others are within 2^-13). The shared result carries twice these before its trunc.
    static let resizeShift = 12

    /// Significant bits a product weight's typical (root-mean-square) magnitude keeps.
    static let weightSignificantBits = 20
    /// At most this many fractional bits per weight: with activations at f bits, products
    /// carry f + 24 and stay below 2^62 while the real values stay below 2^(38 - f).
    public static let maxWeightBits = 24

    /// Fractional bits for a weight that multiplies activations: `--frac-bits` when it
    /// was given, else enough for `weightSignificantBits` at the tensor's RMS magnitude
    /// (0 to `maxWeightBits`; f for an all-zero tensor). Small weights (a 3x3x512 conv's
    /// are about 0.02) get more bits than the activations, large ones fewer.
    func productWeightBits(_ tensor: Tensor) -> Int {
        if let bits = options.weightBits { return bits }
        return min(Lowering.maxWeightBits, Lowering.weightBits(tensor, significant: Lowering.weightSignificantBits, fallback: f))
    }

    /// Fractional bits that keep `significant` bits at the tensor's RMS magnitude (at
    /// least 0; `fallback` for an all-zero tensor).
    static func weightBits(_ tensor: Tensor, significant: Int, fallback: Int = 0) -> Int {
        let floats = tensor.floats
        let meanSquare = floats.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(floats.count, 1))
        guard meanSquare > 0, meanSquare.isFinite else { return fallback }
        let magnitude = Int(meanSquare.squareRoot().exponent)  // floor(log2(rms))
        return max(0, significant - 1 - magnitude)
    }

    /// The quantized server weight for a constant tensor at `bits` fractional bits.
    mutating func weight(_ tensor: Tensor, bits: Int, name: String) throws -> Int {
        let key = "\(name)@\(bits)"
        if let known = weightIndex[key] { return known }
        var values: [Int64] = []
        values.reserveCapacity(tensor.elementCount)
        for value in tensor.floats {
            guard let encoded = FixedPoint.encode(value, fracBits: bits) else {
                throw LoweringError("weight \(name) holds \(value), which does not fit the fixed-point ring with \(bits) fractional bits")
            }
            values.append(encoded)
        }
        program.weights.append(WeightInfo(name: name, shape: tensor.shape, fracBits: bits))
        weights.append(values)
        weightIndex[key] = program.weights.count - 1
        return program.weights.count - 1
    }

    /// A public constant (pad values, clip bounds) at f fractional bits.
    func fixed(_ value: Float) throws -> Int {
        guard let encoded = FixedPoint.encode(value, fracBits: f) else { throw LoweringError("the constant \(value) does not fit the fixed-point ring") }
        return Int(encoded)
    }

    /// The DReLU window: exact, or `--approx-drelu` bits placed where calibration put
    /// them for this layer, else so the window covers magnitudes up to 2^8 (in units)
    /// times `spread` (the largest patch area).
    func comparison(spread: Int = 1, layer: String) -> Comparison {
        let width = ring.bits, radix = options.comparisonRadix
        guard let bits = options.approxDReLUBits, bits < width else { return .exact(in: ring, radix: radix) }
        if let dropped = options.droppedBits[layer] { return Comparison(bits: bits, dropped: max(0, min(width - bits, dropped)), radix: radix) }
        let magnitudeBits = f + 8 + spread.log2Ceiling
        return Comparison(bits: bits, dropped: max(0, min(width - bits, magnitudeBits + 1 - bits)), radix: radix)
    }

    func window(_ pool: Pool2D) -> Window {
        Window(kernel: pool.kernel, strides: pool.strides, pads: pool.pads, dilations: pool.dilations, ceilMode: pool.ceilMode)
    }

    /// Resize taps with coefficients out of 2^resizeShift (nearest: weight 0, shift 0).
    func resizeTaps(_ attributes: IR.Resize, input: [Int], x: Int) throws -> Bytecode.Resize {
        let rank = input.count
        guard rank >= 2, input.dropLast(2).elementsEqual(attributes.sizes.dropLast(2)) else {
            throw LoweringError("resize changes axes other than the last two")
        }
        var resize = Bytecode.Resize()
        resize.x = x
        resize.shift = attributes.mode == .nearest ? 0 : Lowering.resizeShift
        let one = Float(1 << resize.shift)
        func convert(_ taps: [IR.ResizeTap]) -> [Bytecode.ResizeTap] {
            taps.map { Bytecode.ResizeTap(index0: $0.index0, index1: $0.index1, weight: Int(($0.weight * one).rounded())) }
        }
        resize.rows = convert(attributes.taps(axis: rank - 2, inputSize: input[rank - 2]))
        resize.columns = convert(attributes.taps(axis: rank - 1, inputSize: input[rank - 1]))
        return resize
    }
}
