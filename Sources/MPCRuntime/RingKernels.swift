import Bytecode
import CRingKernels
import SharedKernels

/// Whole-tensor operations over Z_2^64 that every party applies to its own share (and the
/// emulator to plaintext): linear layers with known weights, broadcasting arithmetic,
/// pooling sums with public multipliers, resize, and data movement. Linear layers whose
/// result is in Z_2^32 compute in 32-bit words (twice the SIMD lanes); the rest compute
/// in UInt64 words, which the interpreter makes canonical after every instruction.
public enum RingKernels {
    /// Convolution of x [N, C, H, W] with weights [M, C/group, kh, kw] (+ bias[M]), in
    /// `ring`'s words; the result's words are canonical.
    /// `depthwise`: convolutions with one input channel per group take the depthwise
    /// kernel (false: im2col and GEMM, which tests compare it with).
    public static func conv(_ x: RingTensor, _ op: Conv, weight: [UInt64], weightShape: [Int], bias: [UInt64]?, resultShape: [Int],
                            ring: Ring, depthwise: Bool = true) -> RingTensor {
        let byPlane = depthwise && weightShape[1] == 1
        let values = ring == .z32
            ? widened(byPlane ? depthwiseConv(x, op, weight: weight, weightShape: weightShape, bias: bias, resultShape: resultShape, kernel: mpc_ring_depthwise_parallel32)
                : conv(x, op, weight: weight, weightShape: weightShape, bias: bias, resultShape: resultShape, kernel: mpc_ring_conv2d32))
            : byPlane ? depthwiseConv(x, op, weight: weight, weightShape: weightShape, bias: bias, resultShape: resultShape, kernel: mpc_ring_depthwise_parallel)
                : conv(x, op, weight: weight, weightShape: weightShape, bias: bias, resultShape: resultShape, kernel: mpc_ring_conv2d)
        return RingTensor(shape: resultShape, values: values)
    }

    /// The C kernels of one word width: x and the weights stay UInt64 words, which they
    /// read the low bits of, so nothing is converted before a call.
    typealias ConvKernel<Word> = (UnsafePointer<mpc_ring_conv_geometry>?, UnsafePointer<UInt64>?, Int32, UnsafePointer<UInt64>?,
                                  UnsafeMutablePointer<Word>?, UnsafeMutablePointer<Word>?) -> Void
    typealias DepthwiseKernel<Word> = (UnsafePointer<mpc_ring_conv_geometry>?, UnsafePointer<UInt64>?, Int32, Int32, UnsafePointer<UInt64>?,
                                       UnsafeMutablePointer<Word>?) -> Void
    typealias GemmKernel<Word> = (Int32, Int32, Int32, UnsafePointer<UInt64>?, Int, UnsafePointer<Word>?, Int, UnsafeMutablePointer<Word>?, Int, Int32) -> Void

    /// Z_2^32 results as canonical words (sign extension).
    static func widened(_ words: [UInt32]) -> [UInt64] { words.map { Ring.z32.canonical(UInt64($0)) } }

    static func conv<Word: FixedWidthInteger & UnsignedInteger>(_ x: RingTensor, _ op: Conv, weight: [UInt64], weightShape: [Int], bias: [UInt64]?,
                                                                resultShape: [Int], kernel: ConvKernel<Word>) -> [Word] {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, kh, kw) = (weightShape[0], weightShape[2], weightShape[3])
        let (oh, ow) = (resultShape[2], resultShape[3])
        let groupChannels = c / op.group, groupOutputs = m / op.group
        var geometry = convGeometry(op, channels: groupChannels, height: h, width: w, kernel: (kh, kw), output: (oh, ow))
        var out = [Word](repeating: 0, count: n * m * oh * ow)
        var scratch = [Word](repeating: 0, count: groupChannels * kh * kw * oh * ow)
        let perGroupWeights = groupOutputs * groupChannels * kh * kw
        x.values.withUnsafeBufferPointer { image in
            weight.withUnsafeBufferPointer { weights in
                out.withUnsafeMutableBufferPointer { result in
                    scratch.withUnsafeMutableBufferPointer { scratch in
                        for sample in 0..<n {
                            for group in 0..<op.group {
                                kernel(
                                    &geometry, image.baseAddress! + (sample * c + group * groupChannels) * h * w, Int32(groupOutputs),
                                    weights.baseAddress! + group * perGroupWeights,
                                    result.baseAddress! + (sample * m + group * groupOutputs) * oh * ow, scratch.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
        addBias(&out, bias, channels: m, plane: oh * ow)
        return out
    }

    static func convGeometry(_ op: Conv, channels: Int, height: Int, width: Int, kernel: (Int, Int), output: (Int, Int)) -> mpc_ring_conv_geometry {
        mpc_ring_conv_geometry(
            channels: Int32(channels), height: Int32(height), width: Int32(width), kernelHeight: Int32(kernel.0), kernelWidth: Int32(kernel.1),
            strideH: Int32(op.strides[0]), strideW: Int32(op.strides[1]), padTop: Int32(op.pads[0]), padLeft: Int32(op.pads[1]),
            dilationH: Int32(op.dilations[0]), dilationW: Int32(op.dilations[1]), outHeight: Int32(output.0), outWidth: Int32(output.1))
    }

    /// out[n, channel, plane] += bias[channel].
    static func addBias<Word: FixedWidthInteger>(_ out: inout [Word], _ bias: [UInt64]?, channels: Int, plane: Int) {
        guard let bias else { return }
        for index in out.indices { out[index] &+= Word(truncatingIfNeeded: bias[(index / plane) % channels]) }
    }

    /// A depthwise convolution (one input channel per group), sample by sample.
    static func depthwiseConv<Word: FixedWidthInteger & UnsignedInteger>(_ x: RingTensor, _ op: Conv, weight: [UInt64], weightShape: [Int], bias: [UInt64]?,
                                                                         resultShape: [Int], kernel: DepthwiseKernel<Word>) -> [Word] {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, kh, kw) = (weightShape[0], weightShape[2], weightShape[3])
        let (oh, ow) = (resultShape[2], resultShape[3])
        var geometry = convGeometry(op, channels: 1, height: h, width: w, kernel: (kh, kw), output: (oh, ow))
        var out = [Word](repeating: 0, count: n * m * oh * ow)
        x.values.withUnsafeBufferPointer { image in
            weight.withUnsafeBufferPointer { weights in
                out.withUnsafeMutableBufferPointer { result in
                    for sample in 0..<n {
                        kernel(&geometry, image.baseAddress! + sample * c * h * w, Int32(c), Int32(m / c), weights.baseAddress!,
                               result.baseAddress! + sample * m * oh * ow)
                    }
                }
            }
        }
        addBias(&out, bias, channels: m, plane: oh * ow)
        return out
    }

    /// x [..., K] times w[N, K] transposed (+ bias[N]), in `ring`'s words; the result's
    /// words are canonical.
    public static func dense(_ x: RingTensor, weight: [UInt64], weightShape: [Int], bias: [UInt64]?, resultShape: [Int], ring: Ring) -> RingTensor {
        let values = ring == .z32
            ? widened(dense(x, weight: weight, weightShape: weightShape, bias: bias, kernel: mpc_ring_gemm_parallel32))
            : dense(x, weight: weight, weightShape: weightShape, bias: bias, kernel: mpc_ring_gemm_parallel)
        return RingTensor(shape: resultShape, values: values)
    }

    static func dense<Word: FixedWidthInteger & UnsignedInteger>(_ x: RingTensor, weight: [UInt64], weightShape: [Int], bias: [UInt64]?,
                                                                 kernel: GemmKernel<Word>) -> [Word] {
        let (outputs, inner) = (weightShape[0], weightShape[1])
        let rows = x.count / max(inner, 1)
        // The weights' transpose (B of the product), narrowed as it is written.
        var transposed = [Word](repeating: 0, count: inner * outputs)
        for o in 0..<outputs { for k in 0..<inner { transposed[k * outputs + o] = Word(truncatingIfNeeded: weight[o * inner + k]) } }
        var out = [Word](repeating: 0, count: rows * outputs)
        x.values.withUnsafeBufferPointer { a in
            transposed.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    kernel(Int32(rows), Int32(outputs), Int32(inner), a.baseAddress!, inner, b.baseAddress!, outputs, c.baseAddress!, outputs, 0)
                }
            }
        }
        if let bias { for index in out.indices { out[index] &+= Word(truncatingIfNeeded: bias[index % outputs]) } }
        return out
    }

    /// Elementwise a op b with NumPy broadcasting to `shape`.
    public static func broadcast(_ a: RingTensor, _ b: RingTensor, shape: [Int], _ op: (UInt64, UInt64) -> UInt64) -> RingTensor {
        if a.shape == shape && b.shape == shape {
            return RingTensor(shape: shape, values: zip(a.values, b.values).map(op))
        }
        let aIndex = broadcastIndex(from: a.shape, to: shape), bIndex = broadcastIndex(from: b.shape, to: shape)
        let count = shape.reduce(1, *)
        var out = [UInt64](repeating: 0, count: count)
        for index in 0..<count { out[index] = op(a.values[aIndex(index)], b.values[bIndex(index)]) }
        return RingTensor(shape: shape, values: out)
    }

    /// Average pooling before its trunc: window sums times round(2^shift / divisor).
    public static func avgPool(_ x: RingTensor, _ op: AvgPool, resultShape: [Int]) -> RingTensor {
        let windows = poolWindows(x.shape, op.window, resultShape)
        let (inputPlane, outputPlane) = (windows.height * windows.width, windows.outputHeight * windows.outputWidth)
        var out = [UInt64](repeating: 0, count: resultShape.reduce(1, *))
        for plane in 0..<(x.shape[0] * x.shape[1]) {
            windows.forEachWindow { window in
                var sum: UInt64 = 0
                for ky in window.rows {
                    for kx in window.columns { sum &+= x.values[plane * inputPlane + window.index(ky, kx)] }
                }
                let divisor = op.countIncludePad ? window.padded : window.valid
                out[plane * outputPlane + window.output] = sum &* multiplier(divisor: divisor, shift: op.shift)
            }
        }
        return RingTensor(shape: resultShape, values: out)
    }

    static func poolWindows(_ shape: [Int], _ window: Window, _ resultShape: [Int]) -> PoolWindows {
        PoolWindows(input: shape, output: resultShape, kernel: window.kernel, strides: window.strides, pads: window.pads, dilations: window.dilations)
    }

    /// round(2^shift / divisor), the public multiplier that divides by a pool's count.
    public static func multiplier(divisor: Int, shift: Int) -> UInt64 {
        let d = UInt64(max(divisor, 1))
        return ((1 << UInt64(shift)) + d / 2) / d
    }

    public static func globalAvgPool(_ x: RingTensor, shift: Int, resultShape: [Int]) -> RingTensor {
        let planes = x.shape[0] * x.shape[1]
        let size = x.count / max(planes, 1)
        let scale = multiplier(divisor: size, shift: shift)
        return RingTensor(shape: resultShape, values: (0..<planes).map { plane in
            var sum: UInt64 = 0
            for index in 0..<size { sum &+= x.values[plane * size + index] }
            return sum &* scale
        })
    }

    /// Max pooling's candidates: for each window position (ky, kx), the tensor of the
    /// value at that position of every output's window; padded positions repeat the
    /// window's first valid value, so every window has kh x kw candidates.
    public static func poolCandidates(_ x: RingTensor, _ window: Window, resultShape: [Int]) -> [RingTensor] {
        let windows = poolWindows(x.shape, window, resultShape)
        let (inputPlane, outputPlane) = (windows.height * windows.width, windows.outputHeight * windows.outputWidth)
        let (kh, kw) = (window.kernel[0], window.kernel[1])
        var candidates = [[UInt64]](repeating: [UInt64](repeating: 0, count: resultShape.reduce(1, *)), count: kh * kw)
        for plane in 0..<(x.shape[0] * x.shape[1]) {
            windows.forEachWindow { pooled in
                let out = plane * outputPlane + pooled.output
                let first = pooled.index(pooled.rows.lowerBound, pooled.columns.lowerBound)
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        let index = pooled.rows.contains(ky) && pooled.columns.contains(kx) ? pooled.index(ky, kx) : first
                        candidates[ky * kw + kx][out] = x.values[plane * inputPlane + index]
                    }
                }
            }
        }
        return candidates.map { RingTensor(shape: resultShape, values: $0) }
    }

    /// Elementwise `transform` of every value.
    static func map(_ x: RingTensor, _ transform: (UInt64) -> UInt64) -> RingTensor {
        RingTensor(shape: x.shape, values: x.values.map(transform))
    }

    /// Patch sums of the patch channels of a block ReLU, in (sample, channel, patch row,
    /// patch column) order; identity and zero channels have none.
    public static func patchSums(_ x: RingTensor, blocks: [BlockSize]) -> [UInt64] {
        let w = x.shape[3]
        var sums: [UInt64] = []
        BlockSize.forEachPatch(shape: x.shape, blocks: blocks) { _, plane, rows, columns in
            var sum: UInt64 = 0
            for y in rows { for column in columns { sum &+= x.values[plane + y * w + column] } }
            sums.append(sum)
        }
        return sums
    }

    /// Each patch pixel's index and its patch, in patchSums order: the pixels a block
    /// ReLU selects.
    public static func patchPixels(_ shape: [Int], _ blocks: [BlockSize]) -> (pixels: [Int], owner: [Int32]) {
        let w = shape[3]
        var pixels: [Int] = [], owner: [Int32] = []
        BlockSize.forEachPatch(shape: shape, blocks: blocks) { patch, plane, rows, columns in
            for y in rows {
                for column in columns {
                    pixels.append(plane + y * w + column)
                    owner.append(Int32(patch))
                }
            }
        }
        return (pixels, owner)
    }

    /// Zeroes the channels whose block is `zero`.
    public static func zeroChannels(_ x: inout RingTensor, blocks: [BlockSize]) {
        let plane = x.shape[2] * x.shape[3]
        for (channel, block) in blocks.enumerated() where block == .zero {
            for sample in 0..<x.shape[0] {
                let start = (sample * x.shape[1] + channel) * plane
                for pixel in start..<(start + plane) { x.values[pixel] = 0 }
            }
        }
    }

    /// Separable interpolation with taps weighted out of 2^shift (no truncation).
    public static func resize(_ x: RingTensor, _ op: Resize, resultShape: [Int]) -> RingTensor {
        let rank = x.shape.count
        let (h, w) = (x.shape[rank - 2], x.shape[rank - 1])
        let (oh, ow) = (resultShape[rank - 2], resultShape[rank - 1])
        let planes = x.count / max(h * w, 1)
        let one = UInt64(1) << UInt64(op.shift)
        var out = [UInt64](repeating: 0, count: planes * oh * ow)
        for plane in 0..<planes {
            let source = plane * h * w
            for (oy, row) in op.rows.enumerated() {
                let (r0, r1) = (one &- UInt64(row.weight), UInt64(row.weight))
                for (ox, column) in op.columns.enumerated() {
                    let (c0, c1) = (one &- UInt64(column.weight), UInt64(column.weight))
                    let top = c0 &* x.values[source + row.index0 * w + column.index0] &+ c1 &* x.values[source + row.index0 * w + column.index1]
                    let bottom = c0 &* x.values[source + row.index1 * w + column.index0] &+ c1 &* x.values[source + row.index1 * w + column.index1]
                    out[(plane * oh + oy) * ow + ox] = r0 &* top &+ r1 &* bottom
                }
            }
        }
        return RingTensor(shape: resultShape, values: out)
    }
}
