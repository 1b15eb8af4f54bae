import CKernels
import COpenBLAS
import IR

/// The float kernels. Each works on a whole tensor; heavy ones split work over the
/// cores (GEMM through OpenBLAS, the rest with `parallelFor`).
enum Kernels {
    /// A convolution's weights packed for the SGEMM kernels, one matrix [M/group, C/group *
    /// kh * kw] per group. The engine packs each convolution once.
    struct PackedWeights: Sendable {
        var groups: [[Float]]

        init(_ weight: Tensor, groups count: Int) {
            let m = weight.shape[0] / count
            let kdim = weight.elementCount / weight.shape[0]
            let values = weight.floats
            groups = (0..<count).map { group in
                [Float](unsafeUninitializedCapacity: mpcc_packed_size(Int32(m), Int32(kdim))) { buffer, initialized in
                    values.withUnsafeBufferPointer { source in
                        mpcc_pack_a(Int32(m), Int32(kdim), source.baseAddress! + group * m * kdim, kdim, buffer.baseAddress!)
                    }
                    initialized = buffer.count
                }
            }
        }
    }

    /// Convolution as a packed SGEMM per group whose right-hand side is the im2col matrix
    /// read straight from the input while packing (1x1 stride-1 convolutions multiply the
    /// input directly); depthwise ones (one input channel per group) use a direct loop.
    /// Bias and a fused clamp are applied as the output is stored.
    static func conv(
        _ x: Tensor, weight: Tensor, bias: Tensor?, _ conv: Conv2D, _ type: TensorType, clamp: (low: Float, high: Float)? = nil,
        packed: PackedWeights? = nil
    ) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
        let (oh, ow) = (type.shape[2], type.shape[3])
        let groups = conv.group
        let (cg, mg) = (c / groups, m / groups)
        let kdim = cg * kh * kw
        let spatial = oh * ow
        let input = x.floats
        let biasValues = bias?.floats ?? []
        let (low, high) = clamp ?? (-.infinity, .infinity)
        // Every path writes every element.
        var out = [Float](unsafeUninitializedCapacity: type.elementCount) { _, count in count = type.elementCount }
        if cg == 1 && groups > 1 {
            depthwise(input, weight.floats, &out, n: n, c: c, h: h, w: w, multiplier: mg, kh: kh, kw: kw, oh: oh, ow: ow, conv)
            if bias != nil || clamp != nil {
                out.withUnsafeMutableBufferPointer { output in
                    let base = output.baseAddress!
                    parallelFor(n * m) { plane in
                        let add = biasValues.isEmpty ? 0 : biasValues[plane % m]
                        let row = base + plane * spatial
                        for index in 0..<spatial { row[index] = min(max(row[index] + add, low), high) }
                    }
                }
            }
            return Tensor(shape: type.shape, floats: out)
        }
        let packed = packed ?? PackedWeights(weight, groups: groups)
        let pointwise = kh == 1 && kw == 1 && conv.strides == [1, 1] && conv.pads == [0, 0, 0, 0]
        var geometry = mpcc_conv_geometry(
            channels: Int32(cg), height: Int32(h), width: Int32(w), kernelHeight: Int32(kh), kernelWidth: Int32(kw),
            strideH: Int32(conv.strides[0]), strideW: Int32(conv.strides[1]), padTop: Int32(conv.pads[0]), padLeft: Int32(conv.pads[1]),
            dilationH: Int32(conv.dilations[0]), dilationW: Int32(conv.dilations[1]), outHeight: Int32(oh), outWidth: Int32(ow))
        out.withUnsafeMutableBufferPointer { output in
            input.withUnsafeBufferPointer { input in
                biasValues.withUnsafeBufferPointer { biases in
                    for sample in 0..<n {
                        for group in 0..<groups {
                            let image = input.baseAddress! + (sample * c + group * cg) * h * w
                            let result = output.baseAddress! + (sample * m + group * mg) * spatial
                            let groupBias = biases.isEmpty ? nil : biases.baseAddress! + group * mg
                            packed.groups[group].withUnsafeBufferPointer { weights in
                                let a = weights.baseAddress!
                                splitGEMM(m: mg, n: spatial, k: kdim) { rows, columns in
                                    let rowBias = groupBias.map { $0 + rows.lowerBound }
                                    if pointwise {
                                        mpcc_sgemm_packed(
                                            Int32(rows.count), Int32(columns.count), Int32(kdim), a + rows.lowerBound * kdim,
                                            image + columns.lowerBound, spatial, result + rows.lowerBound * spatial + columns.lowerBound, spatial, 0,
                                            rowBias, low, high)
                                    } else {
                                        mpcc_conv2d_packed(
                                            &geometry, image, Int32(rows.count), a + rows.lowerBound * kdim, result + rows.lowerBound * spatial,
                                            Int32(columns.lowerBound), Int32(columns.upperBound), rowBias, low, high)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: type.shape, floats: out)
    }

    /// Splits an m x n x k product over the cores: by columns at multiples of the widest
    /// kernel panel, or by 8-row panels when there are few columns (small late maps).
    static func splitGEMM(m: Int, n: Int, k: Int, _ body: (_ rows: Range<Int>, _ columns: Range<Int>) -> Void) {
        let parts = m * n * k < 1 << 20 ? 1 : coreCount
        let panels = (m + 7) / 8
        if parts == 1 {
            body(0..<m, 0..<n)
        } else if n >= 64 * parts {
            parallelFor(parts) { part in
                let start = n * part / parts / 32 * 32
                let end = part == parts - 1 ? n : n * (part + 1) / parts / 32 * 32
                if end > start { body(0..<m, start..<end) }
            }
        } else {
            parallelFor(parts) { part in
                let first = panels * part / parts * 8, last = min(m, panels * (part + 1) / parts * 8)
                if last > first { body(first..<last, 0..<n) }
            }
        }
    }

    /// Depthwise convolution (each group reads one input channel), output channel `o`
    /// reading input channel `o / multiplier`.
    private static func depthwise(
        _ inputArray: [Float], _ weightArray: [Float], _ outputArray: inout [Float], n: Int, c: Int, h: Int,
        w: Int, multiplier: Int, kh: Int, kw: Int, oh: Int, ow: Int, _ conv: Conv2D
    ) {
        inputArray.withUnsafeBufferPointer { input in
            weightArray.withUnsafeBufferPointer { weights in
                outputArray.withUnsafeMutableBufferPointer { output in
                    depthwise(
                        input.baseAddress!, weights.baseAddress!, output.baseAddress!, n: n, c: c, h: h, w: w, multiplier: multiplier, kh: kh,
                        kw: kw, oh: oh, ow: ow, conv)
                }
            }
        }
    }

    private static func depthwise(
        _ input: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, n: Int, c: Int, h: Int,
        w: Int, multiplier: Int, kh: Int, kw: Int, oh: Int, ow: Int, _ conv: Conv2D
    ) {
        let (sh, sw) = (conv.strides[0], conv.strides[1])
        let (dh, dw) = (conv.dilations[0], conv.dilations[1])
        let (top, left) = (conv.pads[0], conv.pads[1])
        let m = c * multiplier
        parallelFor(n * m) { plane in
            let sample = plane / m
            let channel = plane % m
            let source = input + (sample * c + channel / multiplier) * h * w
            let kernel = weights + channel * kh * kw
            let destination = output + plane * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var sum: Float = 0
                    for ky in 0..<kh {
                        let iy = oy * sh - top + ky * dh
                        if iy < 0 || iy >= h { continue }
                        for kx in 0..<kw {
                            let ix = ox * sw - left + kx * dw
                            if ix >= 0 && ix < w { sum += source[iy * w + ix] * kernel[ky * kw + kx] }
                        }
                    }
                    destination[oy * ow + ox] = sum
                }
            }
        }
    }

    /// y[..., N] = x[..., K] * w[N, K]^T + b.
    static func dense(_ x: Tensor, weight: Tensor, bias: Tensor?, _ type: TensorType, clamp: (low: Float, high: Float)? = nil) -> Tensor {
        let (outFeatures, k) = (weight.shape[0], weight.shape[1])
        let rows = x.elementCount / max(k, 1)
        var out = [Float](repeating: 0, count: type.elementCount)
        if let bias {
            let values = bias.floats
            for row in 0..<rows { for column in 0..<outFeatures { out[row * outFeatures + column] = values[column] } }
        }
        let input = x.floats
        let weights = weight.floats
        input.withUnsafeBufferPointer { a in
            weights.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    gemm(m: rows, n: outFeatures, k: k, a: a.baseAddress!, b: b.baseAddress!, transposeB: true, c: c.baseAddress!, accumulate: bias != nil)
                }
            }
        }
        if let (low, high) = clamp {
            for index in out.indices { out[index] = min(max(out[index], low), high) }
        }
        return Tensor(shape: type.shape, floats: out)
    }

    /// Row-major C[m,n] (+)= A[m,k] * B (B is [k,n], or [n,k] when `transposeB`), with
    /// OpenBLAS's own threads (calls from several threads of ours serialize inside it).
    static func gemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, transposeB: Bool, c: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b,
            Int32(transposeB ? k : n), accumulate ? 1 : 0, c, Int32(n))
    }

    /// Inference batch normalization over axis 1.
    static func batchNorm(_ x: Tensor, _ operands: [Tensor], epsilon: Float) -> Tensor {
        let (scale, bias, mean, variance) = (operands[1].floats, operands[2].floats, operands[3].floats, operands[4].floats)
        let channels = x.shape[1]
        let inner = x.shape.dropFirst(2).reduce(1, *)
        let multipliers = (0..<channels).map { scale[$0] / (variance[$0] + epsilon).squareRoot() }
        let offsets = (0..<channels).map { bias[$0] - mean[$0] * multipliers[$0] }
        var out = x.floats
        for index in out.indices {
            let channel = (index / inner) % channels
            out[index] = out[index] * multipliers[channel] + offsets[channel]
        }
        return Tensor(shape: x.shape, floats: out)
    }
}
