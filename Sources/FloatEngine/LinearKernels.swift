import COpenBLAS
import IR

/// The float kernels. Each works on a whole tensor; heavy ones split work over the
/// cores (GEMM through OpenBLAS, the rest with `parallelFor`).
enum Kernels {
    /// Convolution: im2col + SGEMM per group; 1x1 stride-1 convolutions multiply the input
    /// directly, and depthwise ones (one input channel per group) use a direct loop.
    static func conv(_ x: Tensor, weight: Tensor, bias: Tensor?, _ conv: Conv2D, _ type: TensorType, clamp: (low: Float, high: Float)? = nil) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
        let (oh, ow) = (type.shape[2], type.shape[3])
        let groups = conv.group
        let (cg, mg) = (c / groups, m / groups)
        let kdim = cg * kh * kw
        let spatial = oh * ow
        let input = x.floats
        let weights = weight.floats
        // SGEMM (beta 0) or the depthwise loop writes every element.
        var out = [Float](unsafeUninitializedCapacity: type.elementCount) { _, count in count = type.elementCount }
        let pointwise = kh == 1 && kw == 1 && conv.strides == [1, 1] && conv.pads == [0, 0, 0, 0]

        out.withUnsafeMutableBufferPointer { output in
            input.withUnsafeBufferPointer { input in
                weights.withUnsafeBufferPointer { weights in
                    if cg == 1 && groups > 1 {
                        depthwise(input.baseAddress!, weights.baseAddress!, output.baseAddress!, n: n, c: c, h: h, w: w, multiplier: mg, kh: kh, kw: kw, oh: oh, ow: ow, conv)
                        return
                    }
                    var columns = [Float](repeating: 0, count: pointwise ? 0 : kdim * spatial)
                    columns.withUnsafeMutableBufferPointer { columns in
                        for sample in 0..<n {
                            for group in 0..<groups {
                                let plane = input.baseAddress! + (sample * c + group * cg) * h * w
                                let b: UnsafePointer<Float>
                                if pointwise {
                                    b = UnsafePointer(plane)
                                } else {
                                    im2col(plane, columns.baseAddress!, channels: cg, h: h, w: w, kh: kh, kw: kw, oh: oh, ow: ow, conv)
                                    b = UnsafePointer(columns.baseAddress!)
                                }
                                gemm(
                                    m: mg, n: spatial, k: kdim, a: weights.baseAddress! + group * mg * kdim, b: b, transposeB: false,
                                    c: output.baseAddress! + (sample * m + group * mg) * spatial, accumulate: false)
                            }
                        }
                    }
                }
            }
            if bias != nil || clamp != nil {
                let values = bias?.floats ?? Array(repeating: 0, count: m)
                let (low, high) = clamp ?? (-.infinity, .infinity)
                let base = output.baseAddress!
                parallelFor(n * m) { plane in
                    let add = values[plane % m]
                    let row = base + plane * spatial
                    for index in 0..<spatial { row[index] = min(max(row[index] + add, low), high) }
                }
            }
        }
        return Tensor(shape: type.shape, floats: out)
    }

    /// Unfolds the receptive fields of `channels` input planes into a [channels*kh*kw,
    /// oh*ow] matrix (zeros where a field reads padding).
    private static func im2col(
        _ input: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>, channels: Int, h: Int, w: Int, kh: Int, kw: Int,
        oh: Int, ow: Int, _ conv: Conv2D
    ) {
        let (sh, sw) = (conv.strides[0], conv.strides[1])
        let (dh, dw) = (conv.dilations[0], conv.dilations[1])
        let (top, left) = (conv.pads[0], conv.pads[1])
        let rows = channels * kh * kw
        parallelFor(min(rows, 64)) { chunk in
            var row = chunk
            while row < rows {
                let channel = row / (kh * kw)
                let ky = (row / kw) % kh
                let kx = row % kw
                let source = input + channel * h * w
                let destination = columns + row * oh * ow
                // Output columns whose input column ox*sw - left + kx*dw lies inside the row.
                let offset = kx * dw - left
                let first = min(ow, max(0, (-offset + sw - 1) / sw))
                let end = max(first, min(ow, (w - offset + sw - 1) / sw))
                for oy in 0..<oh {
                    let iy = oy * sh - top + ky * dh
                    let line = destination + oy * ow
                    if iy < 0 || iy >= h {
                        line.update(repeating: 0, count: ow)
                        continue
                    }
                    let sourceLine = source + iy * w + offset
                    line.update(repeating: 0, count: first)
                    if sw == 1 {
                        (line + first).update(from: sourceLine + first, count: end - first)
                    } else {
                        for ox in first..<end { line[ox] = sourceLine[ox * sw] }
                    }
                    (line + end).update(repeating: 0, count: ow - end)
                }
                row += min(rows, 64)
            }
        }
    }

    /// Depthwise convolution (each group reads one input channel), output channel `o`
    /// reading input channel `o / multiplier`.
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
