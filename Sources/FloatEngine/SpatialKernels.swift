import IR
import SharedKernels

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
                let rows = poolWindowRanges(count: oh, stride: sh, padBegin: top, padEnd: bottom, kernel: kh, dilation: dh, size: h)
                let columns = poolWindowRanges(count: ow, stride: sw, padBegin: left, padEnd: right, kernel: kw, dilation: dw, size: w)
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
        Tensor(shape: type.shape, floats: DataMovement.transpose(x.floats, shape: x.shape, perm: perm))
    }

    static func slice(_ x: Tensor, starts: [Int], steps: [Int], _ type: TensorType) -> Tensor {
        Tensor(shape: type.shape, floats: DataMovement.slice(x.floats, shape: x.shape, starts: starts, steps: steps, resultShape: type.shape))
    }

    static func concat(_ operands: [Tensor], axis: Int, _ type: TensorType) -> Tensor {
        Tensor(shape: type.shape, floats: DataMovement.concat(operands.map { ($0.floats, $0.shape) }, axis: axis, resultShape: type.shape))
    }

    static func pad(_ x: Tensor, pads: [Int], value: Float, _ type: TensorType) -> Tensor {
        Tensor(shape: type.shape, floats: DataMovement.pad(x.floats, shape: x.shape, pads: pads, value: value, resultShape: type.shape))
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
