import CKernels
import IR
import SharedKernels

/// Vector-Jacobian products of the graph (reverse mode, data gradients only): given the
/// values of a forward run and a gradient for each graph output, the gradient of
/// <outputs, gradients> with respect to chosen intermediate values. The planner's `fast`
/// distortion uses them for first-order estimates ||J delta||^2 of every candidate at once.
/// Piecewise-linear ops (ReLU, clamps, block ReLU, max pooling) use the derivative at the
/// forward values: the mask of what passed, the arg max of each window.
extension FloatEngine {
    /// The first node on a path from `values` to a graph output that `backward` cannot
    /// differentiate through (an op without a rule, or a weight that depends on `values`),
    /// as "mnemonic 'node name'"; nil when every one can.
    public func backwardUnsupported(from values: [ValueID]) -> String? {
        let (live, _) = backwardReach(from: values)
        for node in graph.nodes where live.contains(node.result) {
            let reason: Bool
            switch node.op {
            case .conv, .dense, .batchNorm: reason = node.operands.dropFirst().contains { live.contains($0) }
            case .argMax, .constant: reason = true
            case .relu, .relu6, .clip, .blockReLU, .maxPool, .avgPool, .globalAvgPool, .add, .sub, .mul, .div, .reshape, .transpose,
                .slice, .concat, .pad, .identity, .softmax, .resize:
                reason = false
            }
            if reason { return "\(node.op.mnemonic) '\(node.name.isEmpty ? graph.name(of: node.result) : node.name)'" }
        }
        return nil
    }

    /// Values that depend on `values` (`live`) and those of them that reach a graph output.
    private func backwardReach(from values: [ValueID]) -> (live: Set<ValueID>, useful: Set<ValueID>) {
        var live = Set(values)
        for node in graph.nodes where node.operands.contains(where: { live.contains($0) }) { live.insert(node.result) }
        var useful = Set(graph.outputs.filter { live.contains($0) })
        for node in graph.nodes.reversed() where useful.contains(node.result) {
            for operand in node.operands where live.contains(operand) { useful.insert(operand) }
        }
        return (live, useful)
    }

    /// The gradients with respect to `wanted` of sum over outputs o of <o, outputGradients[o]>,
    /// linearized at the forward values `cached` (a `runKeepingValues` result of this
    /// engine). A wanted value that no output depends on gets zeros. Throws when
    /// `backwardUnsupported(from: wanted)` names a node.
    public func backward(_ cached: [Tensor?], outputGradients: [Tensor], wanted: [ValueID]) throws -> [ValueID: Tensor] {
        guard outputGradients.count == graph.outputs.count else {
            throw EngineError("backward needs \(graph.outputs.count) output gradients, got \(outputGradients.count)")
        }
        if let node = backwardUnsupported(from: wanted) { throw EngineError("cannot differentiate through \(node)") }
        let (_, useful) = backwardReach(from: wanted)
        let keep = Set(wanted)
        var gradients: [ValueID: [Float]] = [:]
        func accumulate(_ value: ValueID, _ gradient: [Float]) {
            if var existing = gradients[value] {
                gradients[value] = nil
                for index in existing.indices { existing[index] += gradient[index] }
                gradients[value] = existing
            } else {
                gradients[value] = gradient
            }
        }
        for (output, gradient) in zip(graph.outputs, outputGradients) where useful.contains(output) {
            guard gradient.shape == graph.type(of: output).shape else {
                throw EngineError("output gradient has shape \(gradient.shape), expected \(graph.type(of: output).shape)")
            }
            accumulate(output, gradient.floats)
        }
        for node in graph.nodes.reversed() {
            guard let gradient = gradients[node.result] else { continue }
            if !keep.contains(node.result) { gradients[node.result] = nil }
            let targets = node.operands.indices.filter { useful.contains(node.operands[$0]) }
            if targets.isEmpty { continue }
            let operands = node.operands.map { cached[$0.index]! }
            let result = cached[node.result.index]
            for (position, operandGradient) in try BackwardKernels.backward(
                node.op, operands: operands, result: result, gradient: gradient, resultShape: graph.type(of: node.result).shape,
                positions: targets)
            {
                accumulate(node.operands[position], operandGradient)
            }
        }
        var result: [ValueID: Tensor] = [:]
        for value in wanted {
            let shape = graph.type(of: value).shape
            result[value] = Tensor(shape: shape, floats: gradients[value] ?? [Float](repeating: 0, count: shape.reduce(1, *)))
        }
        return result
    }
}

/// The backward rule of each op: operand gradients from the result's gradient.
enum BackwardKernels {
    /// Gradients of the operands at `positions`, in that order, paired with their positions.
    static func backward(
        _ op: Op, operands: [Tensor], result: Tensor?, gradient g: [Float], resultShape: [Int], positions: [Int]
    ) throws -> [(Int, [Float])] {
        let x = operands[0]
        switch op {
        case .conv(let conv):
            if let transposed = transposedConv(g, weight: operands[1], conv, inputShape: x.shape, outputShape: resultShape) {
                return [(0, transposed)]
            }
            return [(0, convData(g, weight: operands[1], conv, inputShape: x.shape, outputShape: resultShape))]
        case .dense:
            return [(0, denseData(g, weight: operands[1], rows: x.elementCount / max(operands[1].shape[1], 1)))]
        case .batchNorm(let epsilon):
            let (scale, variance) = (operands[1].floats, operands[4].floats)
            let channels = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
            let multipliers = (0..<channels).map { scale[$0] / (variance[$0] + epsilon).squareRoot() }
            return [(0, g.indices.map { g[$0] * multipliers[($0 / inner) % channels] })]
        case .relu, .relu6, .clip:
            let (low, high) = op.clampBounds!
            let input = x.floats
            return [(0, g.indices.map { input[$0] > low && input[$0] < high ? g[$0] : 0 })]
        case .blockReLU(let plan):
            return [(0, blockReLUMask(g, x, plan))]
        case .maxPool(let pool):
            return [(0, poolBackward(g, x, pool, max: true, outputShape: resultShape))]
        case .avgPool(let pool):
            return [(0, poolBackward(g, x, pool, max: false, outputShape: resultShape))]
        case .globalAvgPool:
            let planes = x.shape[0] * x.shape[1]
            let size = x.elementCount / max(planes, 1)
            return [(0, (0..<x.elementCount).map { g[$0 / max(size, 1)] / Float(size) })]
        case .add, .sub, .mul, .div:
            return arithmeticBackward(op, operands, g, resultShape: resultShape, positions: positions)
        case .reshape, .identity:
            return [(0, g)]
        case .transpose(let perm):
            var inverse = perm
            for (axis, source) in perm.enumerated() { inverse[source] = axis }
            let transposed = Kernels.transpose(Tensor(shape: resultShape, floats: g), perm: inverse, x.type)
            return [(0, transposed.floats)]
        case .slice(let starts, let steps, _):
            return [(0, sliceBackward(g, x, starts: starts, steps: steps, resultShape: resultShape))]
        case .pad(let pads, _):
            return [(0, padBackward(g, x, pads: pads, resultShape: resultShape))]
        case .concat(let axis):
            return concatBackward(g, operands, axis: axis, resultShape: resultShape, positions: positions)
        case .softmax(let axis):
            return [(0, softmaxBackward(g, result: result!, axis: axis, resultShape: resultShape))]
        case .resize(let resize):
            return [(0, resizeBackward(g, x, resize, resultShape: resultShape))]
        case .constant, .argMax:
            throw EngineError("\(op.mnemonic) has no backward rule")
        }
    }

    /// add, sub, mul, div: each operand gets the gradient times its partial derivative,
    /// summed over the elements it was broadcast to.
    static func arithmeticBackward(_ op: Op, _ operands: [Tensor], _ g: [Float], resultShape: [Int], positions: [Int]) -> [(Int, [Float])] {
        let (a, b) = (operands[0], operands[1])
        if a.shape == resultShape && b.shape == resultShape {
            let (av, bv) = (a.floats, b.floats)
            return positions.map { position in
                switch (op, position) {
                case (.add, _), (.sub, 0): return (position, g)
                case (.sub, _): return (position, g.map { -$0 })
                case (.mul, 0): return (position, g.indices.map { g[$0] * bv[$0] })
                case (.mul, _): return (position, g.indices.map { g[$0] * av[$0] })
                case (.div, 0): return (position, g.indices.map { g[$0] / bv[$0] })
                default: return (position, g.indices.map { -g[$0] * av[$0] / (bv[$0] * bv[$0]) })
                }
            }
        }
        let (av, bv) = (a.floats, b.floats)
        let ai = broadcastIndex(from: a.shape, to: resultShape), bi = broadcastIndex(from: b.shape, to: resultShape)
        return positions.map { position in
            var out = [Float](repeating: 0, count: position == 0 ? a.elementCount : b.elementCount)
            let target = position == 0 ? ai : bi
            for index in g.indices {
                let factor: Float
                switch (op, position) {
                case (.add, _), (.sub, 0): factor = 1
                case (.sub, _): factor = -1
                case (.mul, 0): factor = bv[bi(index)]
                case (.mul, _): factor = av[ai(index)]
                case (.div, 0): factor = 1 / bv[bi(index)]
                default:
                    let divisor = bv[bi(index)]
                    factor = -av[ai(index)] / (divisor * divisor)
                }
                out[target(index)] += g[index] * factor
            }
            return (position, out)
        }
    }

    /// resize: each output's gradient goes back to the (up to four) inputs it blended,
    /// with the same weights (the adjoint of `Kernels.resize`).
    static func resizeBackward(_ g: [Float], _ x: Tensor, _ resize: Resize, resultShape: [Int]) -> [Float] {
        let rank = x.shape.count
        let (h, w) = (x.shape[rank - 2], x.shape[rank - 1])
        let (oh, ow) = (resultShape[rank - 2], resultShape[rank - 1])
        let rows = resize.taps(axis: rank - 2, inputSize: h), columns = resize.taps(axis: rank - 1, inputSize: w)
        var out = [Float](repeating: 0, count: x.elementCount)
        for plane in 0..<(x.elementCount / max(h * w, 1)) {
            let source = plane * h * w
            for (oy, row) in rows.enumerated() {
                for (ox, column) in columns.enumerated() {
                    let d = g[plane * oh * ow + oy * ow + ox]
                    if resize.mode == .nearest {
                        out[source + row.index0 * w + column.index0] += d
                        continue
                    }
                    let (r0, r1, c0, c1) = (1 - row.weight, row.weight, 1 - column.weight, column.weight)
                    out[source + row.index0 * w + column.index0] += r0 * c0 * d
                    out[source + row.index0 * w + column.index1] += r0 * c1 * d
                    out[source + row.index1 * w + column.index0] += r1 * c0 * d
                    out[source + row.index1 * w + column.index1] += r1 * c1 * d
                }
            }
        }
        return out
    }

    /// slice: the gradient goes back to the selected elements.
    static func sliceBackward(_ g: [Float], _ x: Tensor, starts: [Int], steps: [Int], resultShape: [Int]) -> [Float] {
        var out = [Float](repeating: 0, count: x.elementCount)
        let inStrides = rowMajorStrides(x.shape)
        let base = zip(starts, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
        let strides = zip(steps, inStrides).map { $0 * $1 }
        forEachIndex(resultShape) { flat, indices in
            out[base + zip(indices, strides).reduce(0) { $0 + $1.0 * $1.1 }] += g[flat]
        }
        return out
    }

    /// pad: the gradient of the unpadded part.
    static func padBackward(_ g: [Float], _ x: Tensor, pads: [Int], resultShape: [Int]) -> [Float] {
        let outStrides = rowMajorStrides(resultShape)
        var out = [Float](repeating: 0, count: x.elementCount)
        forEachIndex(x.shape) { flat, indices in
            var source = 0
            for axis in indices.indices { source += (indices[axis] + pads[axis]) * outStrides[axis] }
            out[flat] = g[source]
        }
        return out
    }

    /// concat: each operand gets its part of the gradient.
    static func concatBackward(_ g: [Float], _ operands: [Tensor], axis: Int, resultShape: [Int], positions: [Int]) -> [(Int, [Float])] {
        let outer = resultShape[..<axis].reduce(1, *)
        let inner = resultShape[(axis + 1)...].reduce(1, *)
        let total = resultShape[axis] * inner
        var offsets: [Int] = [], offset = 0
        for operand in operands {
            offsets.append(offset)
            offset += operand.shape[axis] * inner
        }
        return positions.map { position in
            let size = operands[position].shape[axis] * inner
            var out = [Float]()
            out.reserveCapacity(outer * size)
            for block in 0..<outer { out += g[(block * total + offsets[position])..<(block * total + offsets[position] + size)] }
            return (position, out)
        }
    }

    /// softmax: s * (g - <g, s>) along the axis.
    static func softmaxBackward(_ g: [Float], result: Tensor, axis: Int, resultShape: [Int]) -> [Float] {
        let s = result.floats
        let length = resultShape[axis]
        let inner = resultShape[(axis + 1)...].reduce(1, *)
        let outer = resultShape[..<axis].reduce(1, *)
        var out = g
        for block in 0..<outer {
            for offset in 0..<inner {
                let base = block * length * inner + offset
                var dot: Float = 0
                for index in 0..<length { dot += g[base + index * inner] * s[base + index * inner] }
                for index in 0..<length { out[base + index * inner] = s[base + index * inner] * (g[base + index * inner] - dot) }
            }
        }
        return out
    }

    /// Calls body(flat, indices) for every multi-index of `shape`, in row-major order.
    static func forEachIndex(_ shape: [Int], _ body: (Int, [Int]) -> Void) {
        let count = shape.reduce(1, *)
        var indices = [Int](repeating: 0, count: shape.count)
        for flat in 0..<count {
            body(flat, indices)
            var axis = shape.count - 1
            while axis >= 0 {
                indices[axis] += 1
                if indices[axis] < shape[axis] { break }
                indices[axis] = 0
                axis -= 1
            }
        }
    }

    /// dx[rows, K] = dy[rows, N] * W[N, K].
    static func denseData(_ g: [Float], weight: Tensor, rows: Int) -> [Float] {
        let (outFeatures, k) = (weight.shape[0], weight.shape[1])
        var out = [Float](repeating: 0, count: rows * k)
        let weights = weight.floats
        g.withUnsafeBufferPointer { a in
            weights.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    Kernels.gemm(m: rows, n: k, k: outFeatures, a: a.baseAddress!, b: b.baseAddress!, transposeB: false, c: c.baseAddress!, accumulate: false)
                }
            }
        }
        return out
    }

    /// The data gradient of a stride-1, undilated convolution is itself such a convolution,
    /// of dy with the weights flipped and transposed (in and out channels swapped within
    /// each group) and the complementary padding, which runs on the engine's forward
    /// kernels. nil for other convolutions.
    static func transposedConv(_ g: [Float], weight: Tensor, _ conv: Conv2D, inputShape: [Int], outputShape: [Int]) -> [Float]? {
        let (m, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let pads = [kh - 1 - conv.pads[0], kw - 1 - conv.pads[1], kh - 1 - conv.pads[2], kw - 1 - conv.pads[3]]
        guard conv.strides == [1, 1], conv.dilations == [1, 1], pads.allSatisfy({ $0 >= 0 }),
            outputShape[2] + pads[0] + pads[2] - kh + 1 == inputShape[2], outputShape[3] + pads[1] + pads[3] - kw + 1 == inputShape[3]
        else { return nil }
        let groups = conv.group, mg = m / groups
        let values = weight.floats
        var flipped = [Float](repeating: 0, count: values.count)
        // flipped[group * cg + ci, mo, ky, kx] = weight[group * mg + mo, ci, kh - 1 - ky, kw - 1 - kx]
        for group in 0..<groups {
            for mo in 0..<mg {
                for ci in 0..<cg {
                    for ky in 0..<kh {
                        for kx in 0..<kw {
                            flipped[(((group * cg + ci) * mg + mo) * kh + ky) * kw + kx] =
                                values[(((group * mg + mo) * cg + ci) * kh + (kh - 1 - ky)) * kw + (kw - 1 - kx)]
                        }
                    }
                }
            }
        }
        let result = Kernels.conv(
            Tensor(shape: outputShape, floats: g), weight: Tensor(shape: [groups * cg, mg, kh, kw], floats: flipped), bias: nil,
            Conv2D(strides: [1, 1], pads: pads, dilations: [1, 1], group: groups), TensorType(.f32, inputShape))
        return result.floats
    }

    /// The data gradient of a convolution: per sample and group, the column matrix
    /// W^T [C/group * kh * kw, M/group] * dy [M/group, OH * OW] (packed SGEMM), scattered
    /// back onto the input planes (col2im).
    static func convData(_ g: [Float], weight: Tensor, _ conv: Conv2D, inputShape: [Int], outputShape: [Int]) -> [Float] {
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let (m, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
        let (oh, ow) = (outputShape[2], outputShape[3])
        let groups = conv.group
        let (cg, mg) = (c / groups, m / groups)
        let kdim = cg * kh * kw
        let spatial = oh * ow
        let (sh, sw) = (conv.strides[0], conv.strides[1])
        let (dh, dw) = (conv.dilations[0], conv.dilations[1])
        let (top, left) = (conv.pads[0], conv.pads[1])
        let values = weight.floats
        // W_g^T, packed, per group.
        let packed: [[Float]] = (0..<groups).map { group in
            var transposed = [Float](repeating: 0, count: kdim * mg)
            for row in 0..<mg {
                for column in 0..<kdim { transposed[column * mg + row] = values[(group * mg + row) * kdim + column] }
            }
            return [Float](unsafeUninitializedCapacity: mpcc_packed_size(Int32(kdim), Int32(mg))) { buffer, initialized in
                transposed.withUnsafeBufferPointer { source in
                    mpcc_pack_a(Int32(kdim), Int32(mg), source.baseAddress!, mg, buffer.baseAddress!)
                }
                initialized = buffer.count
            }
        }
        var out = [Float](repeating: 0, count: n * c * h * w)
        // Samples per GEMM: as many as keep the column matrix within 16M floats.
        let batch = max(1, min(n, (1 << 24) / max(1, kdim * spatial)))
        var columns = [Float](repeating: 0, count: kdim * spatial * batch)
        var gathered = [Float](repeating: 0, count: mg * spatial * batch)
        g.withUnsafeBufferPointer { gradient in
            out.withUnsafeMutableBufferPointer { output in
                columns.withUnsafeMutableBufferPointer { columnBuffer in
                    gathered.withUnsafeMutableBufferPointer { gatherBuffer in
                        let cols = columnBuffer.baseAddress!, dy = gatherBuffer.baseAddress!
                        for first in stride(from: 0, to: n, by: batch) {
                            let count = min(batch, n - first)
                            let width = count * spatial
                            for group in 0..<groups {
                                // dy of the group as [mg, count * spatial].
                                for row in 0..<mg {
                                    for sample in 0..<count {
                                        (dy + row * width + sample * spatial).update(
                                            from: gradient.baseAddress! + ((first + sample) * m + group * mg + row) * spatial, count: spatial)
                                    }
                                }
                                packed[group].withUnsafeBufferPointer { weights in
                                    let a = weights.baseAddress!
                                    Kernels.splitGEMM(m: kdim, n: width, k: mg) { rows, range in
                                        mpcc_sgemm_packed(
                                            Int32(rows.count), Int32(range.count), Int32(mg), a + rows.lowerBound * mg, dy + range.lowerBound, width,
                                            cols + rows.lowerBound * width + range.lowerBound, width, 0, nil, -.infinity, .infinity)
                                    }
                                }
                                parallelFor(count * cg) { item in
                                    let (sample, channel) = (item / cg, item % cg)
                                    let plane = output.baseAddress! + ((first + sample) * c + group * cg + channel) * h * w
                                    for ky in 0..<kh {
                                        for kx in 0..<kw {
                                            let row = cols + ((channel * kh + ky) * kw + kx) * width + sample * spatial
                                            for oy in 0..<oh {
                                                let iy = oy * sh - top + ky * dh
                                                if iy < 0 || iy >= h { continue }
                                                for ox in 0..<ow {
                                                    let ix = ox * sw - left + kx * dw
                                                    if ix >= 0 && ix < w { plane[iy * w + ix] += row[oy * ow + ox] }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The gradient through block ReLU: kept patches pass it, zeroed ones stop it.
    static func blockReLUMask(_ g: [Float], _ x: Tensor, _ plan: BlockReLUPlan) -> [Float] {
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        var out = g
        guard h * w > 0 else { return out }
        x.floats.withUnsafeBufferPointer { input in
            g.withUnsafeBufferPointer { gradient in
                out.withUnsafeMutableBufferPointer { target in
                    for plane in 0..<(x.shape[0] * c) {
                        let base = plane * h * w
                        plan.blocks[plane % c].maskPlane(
                            deciding: input.baseAddress! + base, source: gradient.baseAddress! + base, into: target.baseAddress! + base,
                            height: h, width: w)
                    }
                }
            }
        }
        return out
    }

    /// Max pooling sends each window's gradient to its (first) largest input; average
    /// pooling spreads it over the window with the forward divisor.
    static func poolBackward(_ g: [Float], _ x: Tensor, _ pool: Pool2D, max isMax: Bool, outputShape: [Int]) -> [Float] {
        let windows = PoolWindows(input: x.shape, output: outputShape, kernel: pool.kernel, strides: pool.strides, pads: pool.pads, dilations: pool.dilations)
        let (inputPlane, outputPlane) = (windows.height * windows.width, windows.outputHeight * windows.outputWidth)
        let input = x.floats
        var out = [Float](repeating: 0, count: x.elementCount)
        out.withUnsafeMutableBufferPointer { output in
            let destination = output.baseAddress!
            parallelFor(x.shape[0] * x.shape[1]) { plane in
                let data = plane * inputPlane
                windows.forEachWindow { window in
                    let gradient = g[plane * outputPlane + window.output]
                    if gradient == 0 { return }
                    if isMax {
                        var best = -Float.infinity, at = -1
                        for ky in window.rows {
                            for kx in window.columns {
                                let index = data + window.index(ky, kx)
                                if at < 0 || input[index] > best { (best, at) = (input[index], index) }
                            }
                        }
                        if at >= 0 { destination[at] += gradient }
                    } else {
                        let divisor = Float(Swift.max(pool.countIncludePad ? window.padded : window.valid, 1))
                        for ky in window.rows {
                            for kx in window.columns { destination[data + window.index(ky, kx)] += gradient / divisor }
                        }
                    }
                }
            }
        }
        return out
    }
}
