import Bytecode

/// Reshape-free data movement, generic over the element (ring shares or floats).
public enum DataMovement {
    /// out[indices] = x[source(indices)] over every multi-index of `shape`, with the
    /// source index kept incrementally (one addition per element).
    static func gather<T>(_ x: [T], shape: [Int], base: Int, strides: [Int]) -> [T] {
        let count = shape.reduce(1, *)
        var out: [T] = []
        out.reserveCapacity(count)
        guard count > 0 else { return out }
        var indices = [Int](repeating: 0, count: shape.count)
        var source = base
        for _ in 0..<count {
            out.append(x[source])
            var axis = shape.count - 1
            while axis >= 0 {
                indices[axis] += 1
                source += strides[axis]
                if indices[axis] < shape[axis] { break }
                source -= strides[axis] * shape[axis]
                indices[axis] = 0
                axis -= 1
            }
        }
        return out
    }

    public static func transpose<T>(_ x: [T], shape: [Int], perm: [Int]) -> [T] {
        let strides = RingKernels.rowMajorStrides(shape)
        return gather(x, shape: perm.map { shape[$0] }, base: 0, strides: perm.map { strides[$0] })
    }

    public static func slice<T>(_ x: [T], shape: [Int], _ op: Slice, resultShape: [Int]) -> [T] {
        let strides = RingKernels.rowMajorStrides(shape)
        let base = zip(op.starts, strides).reduce(0) { $0 + $1.0 * $1.1 }
        return gather(x, shape: resultShape, base: base, strides: zip(op.steps, strides).map { $0 * $1 })
    }

    public static func concat<T>(_ parts: [(values: [T], shape: [Int])], axis: Int, resultShape: [Int]) -> [T] {
        let outer = resultShape[..<axis].reduce(1, *)
        let inner = resultShape[(axis + 1)...].reduce(1, *)
        var out: [T] = []
        out.reserveCapacity(resultShape.reduce(1, *))
        for block in 0..<outer {
            for part in parts {
                let size = part.shape[axis] * inner
                out += part.values[(block * size)..<((block + 1) * size)]
            }
        }
        return out
    }

    public static func pad<T>(_ x: [T], shape: [Int], pads: [Int], value: T, resultShape: [Int]) -> [T] {
        var out = [T](repeating: value, count: resultShape.reduce(1, *))
        guard !x.isEmpty else { return out }
        let outStrides = RingKernels.rowMajorStrides(resultShape)
        let rank = shape.count
        var indices = [Int](repeating: 0, count: rank)
        for flat in 0..<x.count {
            var target = 0
            for axis in 0..<rank { target += (indices[axis] + pads[axis]) * outStrides[axis] }
            out[target] = x[flat]
            var axis = rank - 1
            while axis >= 0 {
                indices[axis] += 1
                if indices[axis] < shape[axis] { break }
                indices[axis] = 0
                axis -= 1
            }
        }
        return out
    }
}
