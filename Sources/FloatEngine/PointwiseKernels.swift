#if canImport(Glibc)
import Glibc
#endif
import IR
import SharedKernels

extension Kernels {
    /// min(max(x, low), high) elementwise: relu, relu6 and clip, in chunks on every core.
    static func clamp(_ x: Tensor, _ bounds: (low: Float, high: Float)) -> Tensor {
        let (low, high) = bounds
        let input = x.floats
        let count = input.count
        let out = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            input.withUnsafeBufferPointer { source in
                let (from, to) = (source.baseAddress!, buffer.baseAddress!)
                let chunk = 1 << 16
                parallelFor((count + chunk - 1) / chunk) { part in
                    for index in (part * chunk)..<min(count, (part + 1) * chunk) { to[index] = min(max(from[index], low), high) }
                }
            }
            initialized = count
        }
        return Tensor(shape: x.shape, floats: out)
    }

    /// Block ReLU (README.md, Method): per channel, patches tile the map from the top-left
    /// (the last ones may be partial); every pixel of a patch is kept when the patch's sum
    /// is positive and zeroed otherwise. `id` channels pass through, `zero` ones vanish.
    static func blockReLU(_ x: Tensor, _ plan: BlockReLUPlan) -> Tensor {
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        var out = x.floats
        out.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            parallelFor(x.shape[0] * c) { plane in
                let data = base + plane * h * w
                plan.blocks[plane % c].maskPlane(deciding: data, source: data, into: data, height: h, width: w)
            }
        }
        return Tensor(shape: x.shape, floats: out)
    }

    /// Elementwise binary op with NumPy broadcasting; fast paths for equal shapes and for
    /// a right operand that is constant along the trailing axes (biases, per-channel scales).
    static func broadcast(_ a: Tensor, _ b: Tensor, _ type: TensorType, _ op: (Float, Float) -> Float) -> Tensor {
        let left = a.floats, right = b.floats
        if a.shape == type.shape && b.shape == type.shape {
            let count = left.count
            let out = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                left.withUnsafeBufferPointer { a in
                    right.withUnsafeBufferPointer { b in
                        for index in 0..<count { buffer[index] = op(a[index], b[index]) }
                    }
                }
                initialized = count
            }
            return Tensor(shape: type.shape, floats: out)
        }
        let count = type.elementCount
        let leftIndex = broadcastIndex(from: a.shape, to: type.shape)
        let rightIndex = broadcastIndex(from: b.shape, to: type.shape)
        return Tensor(shape: type.shape, floats: (0..<count).map { op(left[leftIndex($0)], right[rightIndex($0)]) })
    }

    static func softmax(_ x: Tensor, axis: Int) -> Tensor {
        var out = x.floats
        softmaxInPlace(&out, shape: x.shape, axis: axis)
        return Tensor(shape: x.shape, floats: out)
    }

    static func argMax(_ x: Tensor, _ argMax: ArgMax, _ type: TensorType) -> Tensor {
        let indices = argMaxIndices(x.floats, shape: x.shape, axis: argMax.axis, selectLastIndex: argMax.selectLastIndex)
        return Tensor(shape: type.shape, ints: indices.map(Int64.init))
    }
}


// The float block-ReLU rule, shared by the forward kernel, its backward rule and the
// planner's distortion estimates so that their keep/zero decisions agree bit for bit.
extension BlockSize {
    /// The sum of one patch of a row-major plane `width` wide, row by row from 0.
    @inlinable
    public static func patchSum(_ plane: UnsafePointer<Float>, width: Int, rows: Range<Int>, columns: Range<Int>) -> Float {
        var sum: Float = 0
        for row in rows { for column in columns { sum += plane[row * width + column] } }
        return sum
    }

    /// Block ReLU on one H x W plane: `target` = `source` where the patch holding the pixel
    /// has a positive sum in `decider`, else 0; identity copies `source`, zero writes zeros.
    /// The forward pass decides on its own input; the backward rule masks the gradient by
    /// the input's patches. The three may be the same plane: a patch is summed before any
    /// of it is written.
    public func maskPlane(
        deciding decider: UnsafePointer<Float>, source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>,
        height h: Int, width w: Int
    ) {
        if isIdentity {
            if UnsafePointer(target) != source { target.update(from: source, count: h * w) }
            return
        }
        if !isPatch {
            target.update(repeating: 0, count: h * w)
            return
        }
        forEachPatch(height: h, width: w) { _, rows, columns in
            let keep = BlockSize.patchSum(decider, width: w, rows: rows, columns: columns) > 0
            for row in rows { for column in columns { target[row * w + column] = keep ? source[row * w + column] : 0 } }
        }
    }
}
