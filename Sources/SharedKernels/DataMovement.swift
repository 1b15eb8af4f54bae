#if canImport(Glibc)
import Glibc
#endif

/// Data movement, generic over the element: the float engine moves floats, the runtime
/// moves ring shares, and both must move them the same way.
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
        let strides = rowMajorStrides(shape)
        return gather(x, shape: perm.map { shape[$0] }, base: 0, strides: perm.map { strides[$0] })
    }

    /// result[i] = x[start + i * step] along each axis.
    public static func slice<T>(_ x: [T], shape: [Int], starts: [Int], steps: [Int], resultShape: [Int]) -> [T] {
        let strides = rowMajorStrides(shape)
        let base = zip(starts, strides).reduce(0) { $0 + $1.0 * $1.1 }
        return gather(x, shape: resultShape, base: base, strides: zip(steps, strides).map { $0 * $1 })
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
        let outStrides = rowMajorStrides(resultShape)
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

/// Strides of a row-major (C order) layout.
public func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var stride = 1
    for axis in shape.indices.reversed() {
        strides[axis] = stride
        stride *= shape[axis]
    }
    return strides
}

/// Pooling windows along one axis: for each output position, the kernel offsets that
/// land inside the input, and the window's extent clipped to the padded input (the
/// divisor of average pooling with count_include_pad, as onnxruntime counts it).
public func poolWindowRanges(count: Int, stride: Int, padBegin: Int, padEnd: Int, kernel: Int, dilation: Int, size: Int) -> [(valid: Range<Int>, padded: Int)] {
    (0..<count).map { o in
        let start = o * stride - padBegin
        let first = start >= 0 ? 0 : (-start + dilation - 1) / dilation
        let end = min(kernel, (size - start + dilation - 1) / dilation)
        let paddedEnd = min(kernel, (size + padEnd - start + dilation - 1) / dilation)
        return (first..<max(first, end), max(0, paddedEnd))
    }
}

/// Softmax along `axis` of a row-major tensor, in place.
public func softmaxInPlace(_ values: inout [Float], shape: [Int], axis: Int) {
    let length = shape[axis]
    let inner = shape[(axis + 1)...].reduce(1, *)
    let outer = shape[..<axis].reduce(1, *)
    for block in 0..<outer {
        for offset in 0..<inner {
            let base = block * length * inner + offset
            var largest = -Float.infinity
            for index in 0..<length { largest = max(largest, values[base + index * inner]) }
            var sum: Float = 0
            for index in 0..<length {
                let value = expf(values[base + index * inner] - largest)
                values[base + index * inner] = value
                sum += value
            }
            for index in 0..<length { values[base + index * inner] /= sum }
        }
    }
}

/// Maps a flat index of `outShape` to the flat index of a tensor of `shape` broadcast to it.
public func broadcastIndex(from shape: [Int], to outShape: [Int]) -> (Int) -> Int {
    if shape == outShape { return { $0 } }
    let count = shape.reduce(1, *)
    if count == 1 { return { _ in 0 } }
    let padded = Array(repeating: 1, count: outShape.count - shape.count) + shape
    // One contiguous run of non-broadcast axes (e.g. [C,1,1] against [N,C,H,W]).
    let kept = padded.indices.filter { padded[$0] != 1 }
    if let first = kept.first, let last = kept.last, kept.count == last - first + 1,
        zip(kept.map { padded[$0] }, kept.map { outShape[$0] }).allSatisfy({ $0 == $1 })
    {
        let inner = outShape[(last + 1)...].reduce(1, *)
        return { ($0 / inner) % count }
    }
    var inStrides = [Int](repeating: 0, count: padded.count)
    var step = 1
    for axis in padded.indices.reversed() {
        inStrides[axis] = padded[axis] == 1 ? 0 : step
        step *= padded[axis]
    }
    let outStrides = rowMajorStrides(outShape)
    return { flat in
        var rest = flat
        var index = 0
        for axis in 0..<outShape.count {
            index += (rest / outStrides[axis]) * inStrides[axis]
            rest %= outStrides[axis]
        }
        return index
    }
}

/// Index of the largest value along `axis` for every other position (the first on ties,
/// or the last with `selectLastIndex`).
public func argMaxIndices(_ values: [Float], shape: [Int], axis: Int, selectLastIndex: Bool) -> [Int] {
    let length = shape[axis]
    let inner = shape[(axis + 1)...].reduce(1, *)
    let outer = shape[..<axis].reduce(1, *)
    var out = [Int](repeating: 0, count: outer * inner)
    for block in 0..<outer {
        for offset in 0..<inner {
            let base = block * length * inner + offset
            var best = 0
            for index in 1..<max(length, 1) {
                let value = values[base + index * inner], current = values[base + best * inner]
                if value > current || (selectLastIndex && value == current) { best = index }
            }
            out[block * inner + offset] = best
        }
    }
    return out
}
