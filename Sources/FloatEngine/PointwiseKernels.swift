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
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var out = x.floats
        out.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            parallelFor(n * c) { plane in
                let block = plan.blocks[plane % c]
                let data = base + plane * h * w
                if block.isIdentity { return }
                if block.isZero {
                    data.update(repeating: 0, count: h * w)
                    return
                }
                for top in stride(from: 0, to: h, by: block.height) {
                    for left in stride(from: 0, to: w, by: block.width) {
                        let bottom = min(top + block.height, h), right = min(left + block.width, w)
                        var sum: Float = 0
                        for y in top..<bottom { for x in left..<right { sum += data[y * w + x] } }
                        if sum > 0 { continue }
                        for y in top..<bottom { for x in left..<right { data[y * w + x] = 0 } }
                    }
                }
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

