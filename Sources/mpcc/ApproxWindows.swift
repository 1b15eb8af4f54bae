import Bytecode
import CommandLineSupport
import FloatEngine
import IR

/// --approx-drelu with --calibration: each compared layer's window placed from the
/// magnitudes its compared values reach on calibration inputs, and how often the
/// approximate sign then differs from the exact one.
struct ApproximateWindows {
    /// Dropped low bits per layer (by result name).
    var dropped: [String: Int] = [:]
    /// Calibration values whose approximate sign may differ from the exact one.
    var mismatches = 0
    var compared = 0

    /// Calibration rows used (ranges settle quickly; bounded for large models).
    static let sampleLimit = 64

    init(graph: Graph, calibration: Tensor, bits: Int, fracBits: Int) throws {
        let rows = min(calibration.shape[0], ApproximateWindows.sampleLimit)
        let perRow = calibration.elementCount / max(calibration.shape[0], 1)
        let input = Tensor(shape: [rows] + calibration.shape.dropFirst(), floats: Array(calibration.floats.prefix(rows * perRow)))
        let engine = try FloatEngine(graph: try graph.rebatched(rows), fuseActivations: false)
        let values = try engine.runKeepingValues([input])
        let scale = Double(1 << fracBits)
        for node in engine.graph.nodes {
            guard let operand = node.operands.first, let x = values[operand.index].map({ $0.floats }) else { continue }
            let largest = Double(x.reduce(0) { max($0, abs($1)) })
            var comparedValues: [Float] = []
            var magnitude: Double
            switch node.op {
            case .relu:
                comparedValues = x
                magnitude = largest
            case .blockReLU(let plan):
                comparedValues = ApproximateWindows.patchSums(x, shape: engine.graph.type(of: node.operands[0]).shape, plan: plan)
                magnitude = Double(comparedValues.reduce(0) { max($0, abs($1)) })
            case .maxPool:
                magnitude = 2 * largest
            case .relu6:
                magnitude = largest + 6
            case .clip(let low, let high):
                magnitude = largest + Double(max(low.isFinite ? abs(low) : 0, high.isFinite ? abs(high) : 0))
            default:
                continue
            }
            // Twice the largest magnitude seen must keep its sign: |v| < 2^(dropped + bits - 1).
            let needed = ApproximateWindows.ceilLog2(max(magnitude * scale * 2, 1))
            let windowDropped = max(0, min(64 - bits, needed + 1 - bits))
            dropped[engine.graph.name(of: node.result)] = windowDropped
            let comparison = Comparison(bits: bits, dropped: windowDropped)
            let nearZero = Int64(1) << Int64(windowDropped)
            compared += comparedValues.count
            for fixed in FixedPoint.encode(comparedValues, fracBits: fracBits) {
                // Out of the window's range, or within 2^dropped of zero where the carry of
                // the shares' dropped bits may flip it (PROTOCOLS.md): an upper bound.
                let signed = Int64(bitPattern: fixed)
                if FixedPoint.isPositive(fixed, comparison) != (signed > 0) || abs(signed) < nearZero { mismatches += 1 }
            }
        }
    }

    /// ceil(log2(x)) for x >= 1.
    static func ceilLog2(_ x: Double) -> Int {
        var bits = 0
        while Double(sign: .plus, exponent: bits, significand: 1) < x { bits += 1 }
        return bits
    }

    /// Patch sums of every patch channel, in the order the block ReLU compares them.
    static func patchSums(_ x: [Float], shape: [Int], plan: BlockReLUPlan) -> [Float] {
        var sums: [Float] = []
        x.withUnsafeBufferPointer { values in
            guard let base = values.baseAddress else { return }
            BlockSize.forEachPatch(shape: shape, blocks: plan.blocks) { _, plane, rows, columns in
                sums.append(BlockSize.patchSum(base + plane, width: shape[3], rows: rows, columns: columns))
            }
        }
        return sums
    }
}
