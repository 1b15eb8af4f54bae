import CKernels
import IR
import TestSupport
import Testing

@testable import FloatEngine

/// The packed SGEMM kernels against a naive triple loop, for every instruction set this
/// machine supports, on sizes that exercise partial tiles, several K blocks, bias, clamp
/// and accumulation.
@Suite(.serialized) struct GEMMTests {
    static let isas = ["generic", "avx2", "avx512"]

    func reference(_ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float], _ c: [Float], accumulate: Bool, bias: [Float]?, low: Float, high: Float) -> [Float] {
        var out = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum: Float = accumulate ? c[i * n + j] : 0
                for p in 0..<k { sum += a[i * k + p] * b[p * n + j] }
                sum += bias?[i] ?? 0
                out[i * n + j] = min(max(sum, low), high)
            }
        }
        return out
    }

    @Test(arguments: isas)
    func matchesTheNaiveProduct(_ isa: String) throws {
        let original = String(cString: mpcc_gemm_isa())
        defer { _ = mpcc_set_gemm_isa(original) }
        guard mpcc_set_gemm_isa(isa) == 1 else { return }  // not on this machine
        var generator = SeededGenerator(state: 7)
        for (m, n, k) in [(1, 1, 1), (8, 32, 5), (13, 47, 300), (64, 49, 577), (3, 200, 0), (17, 1601, 9), (9, 33, 256)] {
            for (accumulate, withBias, clamp) in [(false, false, false), (true, true, false), (false, true, true)] {
                let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &generator) }
                let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &generator) }
                let initial = (0..<(m * n)).map { _ in Float.random(in: -1...1, using: &generator) }
                let bias = withBias ? (0..<m).map { _ in Float.random(in: -1...1, using: &generator) } : nil
                let (low, high): (Float, Float) = clamp ? (0, 0.5) : (-.infinity, .infinity)
                var packed = [Float](repeating: .nan, count: mpcc_packed_size(Int32(m), Int32(k)))
                mpcc_pack_a(Int32(m), Int32(k), a, k, &packed)
                var c = initial
                if let bias {
                    mpcc_sgemm_packed(Int32(m), Int32(n), Int32(k), packed, b, n, &c, n, accumulate ? 1 : 0, bias, low, high)
                } else {
                    mpcc_sgemm_packed(Int32(m), Int32(n), Int32(k), packed, b, n, &c, n, accumulate ? 1 : 0, nil, low, high)
                }
                let expected = reference(m, n, k, a, b, initial, accumulate: accumulate, bias: bias, low: low, high: high)
                let error = zip(c, expected).reduce(0) { max($0, abs($1.0 - $1.1)) }
                #expect(error <= 1e-4 * Float(max(k, 1)), "\(isa) \(m)x\(n)x\(k) accumulate \(accumulate) bias \(withBias) clamp \(clamp): \(error)")
            }
        }
    }

    /// Direct convolution by the definition.
    func naiveConv(_ x: Tensor, _ w: Tensor, _ conv: Conv2D, _ type: TensorType) -> [Float] {
        let (c, h, wd) = (x.shape[1], x.shape[2], x.shape[3])
        let (m, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let (oh, ow) = (type.shape[2], type.shape[3])
        let cg = c / conv.group, mg = m / conv.group
        let input = x.floats, weights = w.floats
        var out = [Float](repeating: 0, count: type.elementCount)
        for o in 0..<m {
            let group = o / mg
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var sum: Float = 0
                    for ci in 0..<cg {
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let iy = oy * conv.strides[0] - conv.pads[0] + ky * conv.dilations[0]
                                let ix = ox * conv.strides[1] - conv.pads[1] + kx * conv.dilations[1]
                                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                sum += input[((group * cg + ci) * h + iy) * wd + ix] * weights[((o * cg + ci) * kh + ky) * kw + kx]
                            }
                        }
                    }
                    out[(o * oh + oy) * ow + ox] = sum
                }
            }
        }
        return out
    }

    @Test(arguments: isas)
    func convolutionMatchesTheDefinition(_ isa: String) throws {
        let original = String(cString: mpcc_gemm_isa())
        defer { _ = mpcc_set_gemm_isa(original) }
        guard mpcc_set_gemm_isa(isa) == 1 else { return }
        var generator = SeededGenerator(state: 11)
        for _ in 0..<25 {
            let group = [1, 1, 2, 3].randomElement(using: &generator)!
            let c = group * Int.random(in: 1...4, using: &generator), m = group * Int.random(in: 1...9, using: &generator)
            let kh = Int.random(in: 1...4, using: &generator), kw = Int.random(in: 1...4, using: &generator)
            let h = Int.random(in: kh...19, using: &generator), w = Int.random(in: kw...23, using: &generator)
            let conv = Conv2D(
                strides: [Int.random(in: 1...3, using: &generator), Int.random(in: 1...3, using: &generator)],
                pads: (0..<4).map { _ in Int.random(in: 0...2, using: &generator) },
                dilations: [Int.random(in: 1...2, using: &generator), 1], group: group)
            let x = Tensor(shape: [1, c, h, w], floats: (0..<(c * h * w)).map { _ in Float.random(in: -1...1, using: &generator) })
            let weight = Tensor(shape: [m, c / group, kh, kw], floats: (0..<(m * c / group * kh * kw)).map { _ in Float.random(in: -1...1, using: &generator) })
            guard let type = try? Op.conv(conv).resultType(operands: [x.type, weight.type]) else { continue }
            let output = Kernels.conv(x, weight: weight, bias: nil, conv, type)
            let error = zip(output.floats, naiveConv(x, weight, conv, type)).reduce(0) { max($0, abs($1.0 - $1.1)) }
            #expect(error < 1e-4, "\(isa) conv \(conv) x \(x.shape) w \(weight.shape): \(error)")
        }
    }
}
