import IR

extension Kernels {
    /// Max or average pooling. Average divisors follow onnxruntime: with
    /// count_include_pad the window clipped to the padded extent, else the valid pixels.
    static func pool(_ x: Tensor, _ pool: Pool2D, max isMax: Bool, _ type: TensorType) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (type.shape[2], type.shape[3])
        let (kh, kw) = (pool.kernel[0], pool.kernel[1])
        let (sh, sw) = (pool.strides[0], pool.strides[1])
        let (dh, dw) = (pool.dilations[0], pool.dilations[1])
        let (top, left, bottom, right) = (pool.pads[0], pool.pads[1], pool.pads[2], pool.pads[3])
        let input = x.floats
        var out = [Float](repeating: 0, count: type.elementCount)
        input.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                let source = input.baseAddress!, destination = output.baseAddress!
                // Per output row and column, the window offsets that land inside the input
                // and inside the padded input (ceil mode can reach past the padding).
                func ranges(_ count: Int, _ stride: Int, _ pad: Int, _ padEnd: Int, _ kernel: Int, _ dilation: Int, _ size: Int)
                    -> [(valid: Range<Int>, padded: Int)]
                {
                    (0..<count).map { o in
                        let start = o * stride - pad
                        let first = start >= 0 ? 0 : (-start + dilation - 1) / dilation
                        let end = min(kernel, (size - start + dilation - 1) / dilation)
                        let paddedEnd = min(kernel, (size + padEnd - start + dilation - 1) / dilation)
                        return (first..<max(first, end), max(0, paddedEnd))
                    }
                }
                let rows = ranges(oh, sh, top, bottom, kh, dh, h), columns = ranges(ow, sw, left, right, kw, dw, w)
                parallelFor(n * c) { plane in
                    let data = source + plane * h * w
                    let result = destination + plane * oh * ow
                    for oy in 0..<oh {
                        let y0 = oy * sh - top
                        let (validRows, paddedRows) = rows[oy]
                        for ox in 0..<ow {
                            let x0 = ox * sw - left
                            let (validColumns, paddedColumns) = columns[ox]
                            var best = -Float.infinity
                            var sum: Float = 0
                            for ky in validRows {
                                let line = data + (y0 + ky * dh) * w + x0
                                for kx in validColumns {
                                    let value = line[kx * dw]
                                    best = Swift.max(best, value)
                                    sum += value
                                }
                            }
                            let valid = validRows.count * validColumns.count
                            let divisor = pool.countIncludePad ? paddedRows * paddedColumns : valid
                            result[oy * ow + ox] = isMax ? best : sum / Float(Swift.max(divisor, 1))
                        }
                    }
                }
            }
        }
        return Tensor(shape: type.shape, floats: out)
    }

    static func globalAvgPool(_ x: Tensor, _ type: TensorType) -> Tensor {
        let planes = x.shape[0] * x.shape[1]
        let size = x.elementCount / Swift.max(planes, 1)
        let input = x.floats
        return Tensor(shape: type.shape, floats: (0..<planes).map { plane in
            var sum: Float = 0
            for index in 0..<size { sum += input[plane * size + index] }
            return sum / Float(size)
        })
    }

    static func transpose(_ x: Tensor, perm: [Int], _ type: TensorType) -> Tensor {
        let inStrides = rowMajorStrides(x.shape)
        let permuted = perm.map { inStrides[$0] }
        return gather(x, type) { indices in zip(indices, permuted).reduce(0) { $0 + $1.0 * $1.1 } }
    }

    static func slice(_ x: Tensor, starts: [Int], steps: [Int], _ type: TensorType) -> Tensor {
        let inStrides = rowMajorStrides(x.shape)
        let base = zip(starts, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
        let strides = zip(steps, inStrides).map { $0 * $1 }
        return gather(x, type) { indices in base + zip(indices, strides).reduce(0) { $0 + $1.0 * $1.1 } }
    }

    /// out[indices] = x[source(indices)] over every multi-index of the result.
    private static func gather(_ x: Tensor, _ type: TensorType, _ source: ([Int]) -> Int) -> Tensor {
        let input = x.floats
        let shape = type.shape
        var indices = [Int](repeating: 0, count: shape.count)
        var out = [Float]()
        out.reserveCapacity(type.elementCount)
        for _ in 0..<type.elementCount {
            out.append(input[source(indices)])
            var axis = shape.count - 1
            while axis >= 0 {
                indices[axis] += 1
                if indices[axis] < shape[axis] { break }
                indices[axis] = 0
                axis -= 1
            }
        }
        return Tensor(shape: shape, floats: out)
    }

    static func concat(_ operands: [Tensor], axis: Int, _ type: TensorType) -> Tensor {
        let outer = type.shape[..<axis].reduce(1, *)
        let inner = type.shape[(axis + 1)...].reduce(1, *)
        let parts = operands.map { ($0.floats, $0.shape[axis] * inner) }
        var out = [Float]()
        out.reserveCapacity(type.elementCount)
        for block in 0..<outer {
            for (data, size) in parts { out += data[(block * size)..<((block + 1) * size)] }
        }
        return Tensor(shape: type.shape, floats: out)
    }

    static func pad(_ x: Tensor, pads: [Int], value: Float, _ type: TensorType) -> Tensor {
        let rank = x.shape.count
        let outStrides = rowMajorStrides(type.shape)
        var out = [Float](repeating: value, count: type.elementCount)
        let input = x.floats
        var indices = [Int](repeating: 0, count: rank)
        for flat in 0..<x.elementCount {
            var target = 0
            for axis in 0..<rank { target += (indices[axis] + pads[axis]) * outStrides[axis] }
            out[target] = input[flat]
            var axis = rank - 1
            while axis >= 0 {
                indices[axis] += 1
                if indices[axis] < x.shape[axis] { break }
                indices[axis] = 0
                axis -= 1
            }
        }
        return Tensor(shape: type.shape, floats: out)
    }

    /// Resize of the last two axes (the frontend admits no other), separably.
    static func resize(_ x: Tensor, _ resize: Resize, _ type: TensorType) -> Tensor {
        let rank = x.shape.count
        let (h, w) = (x.shape[rank - 2], x.shape[rank - 1])
        let (oh, ow) = (type.shape[rank - 2], type.shape[rank - 1])
        let rows = resize.taps(axis: rank - 2, inputSize: h)
        let columns = resize.taps(axis: rank - 1, inputSize: w)
        let planes = x.elementCount / Swift.max(h * w, 1)
        let input = x.floats
        var out = [Float](repeating: 0, count: type.elementCount)
        for plane in 0..<planes {
            let source = plane * h * w
            for (oy, row) in rows.enumerated() {
                for (ox, column) in columns.enumerated() {
                    let value: Float
                    if resize.mode == .nearest {
                        value = input[source + row.index0 * w + column.index0]
                    } else {
                        let top = (1 - column.weight) * input[source + row.index0 * w + column.index0] + column.weight * input[source + row.index0 * w + column.index1]
                        let bottom = (1 - column.weight) * input[source + row.index1 * w + column.index0] + column.weight * input[source + row.index1 * w + column.index1]
                        value = (1 - row.weight) * top + row.weight * bottom
                    }
                    out[plane * oh * ow + oy * ow + ox] = value
                }
            }
        }
        return Tensor(shape: type.shape, floats: out)
    }
}
