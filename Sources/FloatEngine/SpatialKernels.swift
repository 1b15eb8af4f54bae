import IR
import SharedKernels

extension Kernels {
    /// Max or average pooling. Average divisors follow onnxruntime: with
    /// count_include_pad the window clipped to the padded extent, else the valid pixels.
    static func pool(_ x: Tensor, _ pool: Pool2D, max isMax: Bool, _ type: TensorType) -> Tensor {
        let windows = PoolWindows(input: x.shape, output: type.shape, kernel: pool.kernel, strides: pool.strides, pads: pool.pads, dilations: pool.dilations)
        let (inputPlane, outputPlane) = (windows.height * windows.width, windows.outputHeight * windows.outputWidth)
        let input = x.floats
        var out = [Float](repeating: 0, count: type.elementCount)
        input.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                let source = input.baseAddress!, destination = output.baseAddress!
                parallelFor(x.shape[0] * x.shape[1]) { plane in
                    let data = source + plane * inputPlane
                    let result = destination + plane * outputPlane
                    windows.forEachWindow { window in
                        var best = -Float.infinity
                        var sum: Float = 0
                        for ky in window.rows {
                            for kx in window.columns {
                                let value = data[window.index(ky, kx)]
                                best = Swift.max(best, value)
                                sum += value
                            }
                        }
                        let divisor = pool.countIncludePad ? window.padded : window.valid
                        result[window.output] = isMax ? best : sum / Float(Swift.max(divisor, 1))
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
