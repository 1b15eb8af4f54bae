import IR

/// Evaluation of ONNX ops on constant tensors, used while importing to fold the shape
/// arithmetic exporters emit and to transform weights (transposes, scaling). Tensors
/// here are small or weight-sized; clarity wins over speed.
/// The largest constant import-time evaluation builds (shape chains are tiny; transposed
/// weights are weight-sized): a bound against files that ask for gigabytes.
let maxFoldedElements = 1 << 28

enum Fold {
    /// Row-major strides of a shape.
    static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for axis in (0..<shape.count).reversed() {
            strides[axis] = step
            step *= shape[axis]
        }
        return strides
    }

    /// Builds a tensor of `shape` whose element at each flat index `i` is element
    /// `source(i)` of `tensor`.
    static func gatherElements(_ tensor: Tensor, shape: [Int], source: (Int) -> Int) throws -> Tensor {
        guard let count = shape.checkedProduct, count <= maxFoldedElements else {
            throw ImportError("a folded constant of shape \(shape) is too large")
        }
        switch tensor.storage {
        case .f32(let values): return Tensor(shape: shape, floats: (0..<count).map { values[source($0)] })
        case .i64(let values): return Tensor(shape: shape, ints: (0..<count).map { values[source($0)] })
        }
    }

    /// Maps a flat output index to the flat index of a tensor broadcast to `outShape`.
    static func broadcastSource(from shape: [Int], to outShape: [Int]) -> (Int) -> Int {
        let padded = Array(repeating: 1, count: outShape.count - shape.count) + shape
        let inStrides = strides(padded)
        let outStrides = strides(outShape)
        return { flat in
            var rest = flat
            var source = 0
            for axis in 0..<outShape.count {
                let index = rest / outStrides[axis]
                rest %= outStrides[axis]
                if padded[axis] != 1 { source += index * inStrides[axis] }
            }
            return source
        }
    }

    static func expand(_ tensor: Tensor, to shape: [Int]) throws -> Tensor {
        let outShape = try broadcastShape(tensor.shape, shape)
        return try gatherElements(tensor, shape: outShape, source: broadcastSource(from: tensor.shape, to: outShape))
    }

    /// Elementwise binary op with broadcasting; f32 if either side is f32.
    static func binary(_ a: Tensor, _ b: Tensor, float: (Float, Float) -> Float, int: (Int64, Int64) throws -> Int64) throws -> Tensor {
        let shape = try broadcastShape(a.shape, b.shape)
        guard let count = shape.checkedProduct, count <= maxFoldedElements else { throw ImportError("a folded constant of shape \(shape) is too large") }
        let left = broadcastSource(from: a.shape, to: shape)
        let right = broadcastSource(from: b.shape, to: shape)
        if a.dtype == .i64 && b.dtype == .i64 {
            let x = a.ints, y = b.ints
            return Tensor(shape: shape, ints: try (0..<count).map { try int(x[left($0)], y[right($0)]) })
        }
        let x = a.floats, y = b.floats
        return Tensor(shape: shape, floats: (0..<count).map { float(x[left($0)], y[right($0)]) })
    }

    static func unary(_ tensor: Tensor, float: (Float) -> Float, int: (Int64) -> Int64) -> Tensor {
        switch tensor.storage {
        case .f32(let values): return Tensor(shape: tensor.shape, floats: values.map(float))
        case .i64(let values): return Tensor(shape: tensor.shape, ints: values.map(int))
        }
    }

    static func transpose(_ tensor: Tensor, perm: [Int]) throws -> Tensor {
        guard perm.count == tensor.shape.count, Set(perm) == Set(0..<perm.count) else {
            throw ImportError("permutation \(perm) does not fit shape \(tensor.shape)")
        }
        let outShape = perm.map { tensor.shape[$0] }
        let inStrides = strides(tensor.shape)
        let outStrides = strides(outShape)
        return try gatherElements(tensor, shape: outShape) { flat in
            var rest = flat
            var source = 0
            for axis in 0..<outShape.count {
                source += (rest / outStrides[axis]) * inStrides[perm[axis]]
                rest %= outStrides[axis]
            }
            return source
        }
    }

    static func concat(_ tensors: [Tensor], axis: Int) throws -> Tensor {
        guard let first = tensors.first else { throw ImportError("concat of nothing") }
        var shape = first.shape
        for tensor in tensors.dropFirst() {
            guard tensor.shape.count == shape.count,
                zip(tensor.shape, shape).enumerated().allSatisfy({ $0.offset == axis || $0.element.0 == $0.element.1 })
            else { throw ImportError("cannot concatenate shapes \(first.shape) and \(tensor.shape) on axis \(axis)") }
            shape[axis] += tensor.shape[axis]
        }
        // Copy block by block: `outer` blocks, each the axis slices of every tensor in turn.
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        if tensors.allSatisfy({ $0.dtype == .i64 }) {
            var out: [Int64] = []
            out.reserveCapacity(shape.reduce(1, *))
            for block in 0..<outer {
                for tensor in tensors {
                    let size = tensor.shape[axis] * inner
                    out += tensor.ints[(block * size)..<((block + 1) * size)]
                }
            }
            return Tensor(shape: shape, ints: out)
        }
        var out: [Float] = []
        out.reserveCapacity(shape.reduce(1, *))
        for block in 0..<outer {
            for tensor in tensors {
                let size = tensor.shape[axis] * inner
                out += tensor.floats[(block * size)..<((block + 1) * size)]
            }
        }
        return Tensor(shape: shape, floats: out)
    }

    static func gather(_ data: Tensor, indices: Tensor, axis: Int) throws -> Tensor {
        let rank = data.shape.count
        guard rank > 0 else { throw ImportError("Gather from a scalar") }
        let axis = axis < 0 ? axis + rank : axis
        guard axis >= 0, axis < rank else { throw ImportError("Gather axis out of range") }
        let size = data.shape[axis]
        let positions = try indices.ints.map { index -> Int in
            let resolved = index < 0 ? Int(index) + size : Int(index)
            guard resolved >= 0, resolved < size else { throw ImportError("Gather index \(index) is out of range for size \(size)") }
            return resolved
        }
        let outShape = Array(data.shape[..<axis]) + indices.shape + Array(data.shape[(axis + 1)...])
        let inner = data.shape[(axis + 1)...].reduce(1, *)
        let perOuter = positions.count * inner
        return try gatherElements(data, shape: outShape) { flat in
            let outerIndex = flat / perOuter
            let rest = flat % perOuter
            return (outerIndex * size + positions[rest / inner]) * inner + rest % inner
        }
    }

    /// A resolved ONNX Slice: start, step and element count per axis.
    struct SliceSpec {
        var starts: [Int]
        var steps: [Int]
        var sizes: [Int]
    }

    /// Resolves ONNX Slice's starts/ends/axes/steps (negative and out-of-range values
    /// clamp as the spec says) against a shape.
    static func sliceSpec(_ shape: [Int], starts: [Int64], ends: [Int64], axes: [Int64]?, steps: [Int64]?) throws -> SliceSpec {
        let rank = shape.count
        guard starts.count == ends.count, axes.map({ $0.count == starts.count }) ?? true,
            steps.map({ $0.count == starts.count }) ?? true
        else { throw ImportError("Slice starts, ends, axes and steps differ in length") }
        var spec = SliceSpec(starts: [Int](repeating: 0, count: rank), steps: [Int](repeating: 1, count: rank), sizes: shape)
        for index in 0..<starts.count {
            var axis = Int(axes?[index] ?? Int64(index))
            if axis < 0 { axis += rank }
            guard axis >= 0, axis < rank else { throw ImportError("Slice axis out of range") }
            let size = Int64(shape[axis])
            // Steps beyond the axis length behave like the length: clamping keeps the
            // arithmetic below far from overflow.
            let stride = (steps?[index] ?? 1).clamped(to: -(size + 1)...(size + 1))
            guard stride != 0 else { throw ImportError("Slice step 0 is invalid") }
            func clamp(_ value: Int64, _ low: Int64, _ high: Int64) -> Int64 {
                let resolved = value < 0 ? value &+ size : value
                return min(max(resolved, low), high)
            }
            let start: Int64, end: Int64
            if stride > 0 {
                start = clamp(starts[index], 0, size)
                end = clamp(ends[index], 0, size)
            } else {
                start = clamp(starts[index], 0, size - 1)
                end = clamp(ends[index], -1, size - 1)
            }
            let count = stride > 0 ? max(0, (end - start + stride - 1) / stride) : max(0, (start - end - stride - 1) / -stride)
            spec.starts[axis] = count == 0 ? 0 : Int(start)
            spec.steps[axis] = Int(stride)
            spec.sizes[axis] = Int(count)
        }
        return spec
    }

    static func slice(_ data: Tensor, _ spec: SliceSpec) throws -> Tensor {
        let inStrides = strides(data.shape)
        let outStrides = strides(spec.sizes)
        return try gatherElements(data, shape: spec.sizes) { flat in
            var rest = flat
            var source = 0
            for axis in 0..<spec.sizes.count {
                source += (spec.starts[axis] + (rest / outStrides[axis]) * spec.steps[axis]) * inStrides[axis]
                rest %= outStrides[axis]
            }
            return source
        }
    }

    /// ONNX Reshape's target shape: 0 copies the input dimension (unless allowzero), one
    /// -1 is inferred.
    static func reshapeTarget(_ input: [Int], _ target: [Int64], allowZero: Bool) throws -> [Int] {
        var shape: [Int] = []
        var inferred: Int?
        for (index, dim) in target.enumerated() {
            switch dim {
            case -1:
                guard inferred == nil else { throw ImportError("reshape target \(target) has more than one -1") }
                inferred = index
                shape.append(1)
            case 0 where !allowZero:
                guard index < input.count else { throw ImportError("reshape target \(target) copies a dimension the input \(input) lacks") }
                shape.append(input[index])
            case 0..<(1 << 32):
                shape.append(Int(dim))
            default:
                throw ImportError("reshape target \(target) is invalid")
            }
        }
        let total = input.reduce(1, *)
        if let inferred {
            let known = shape.reduce(1, *)
            guard known > 0, total % known == 0 else { throw ImportError("cannot reshape \(input) to \(target)") }
            shape[inferred] = total / known
        }
        guard shape.checkedProduct == total else { throw ImportError("cannot reshape \(input) to \(target)") }
        return shape
    }

    static func squeezed(_ input: [Int], axes: [Int]?) throws -> [Int] {
        guard let axes else { return input.filter { $0 != 1 } }
        let normalized = try Set(axes.map { axis -> Int in
            let resolved = axis < 0 ? axis + input.count : axis
            guard resolved >= 0, resolved < input.count, input[resolved] == 1 else {
                throw ImportError("cannot squeeze axis \(axis) of shape \(input)")
            }
            return resolved
        })
        return input.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
    }

    static func unsqueezed(_ input: [Int], axes: [Int]) throws -> [Int] {
        let rank = input.count + axes.count
        let normalized = try axes.map { axis -> Int in
            let resolved = axis < 0 ? axis + rank : axis
            guard resolved >= 0, resolved < rank else { throw ImportError("unsqueeze axis \(axis) is out of range") }
            return resolved
        }
        guard Set(normalized).count == normalized.count else { throw ImportError("unsqueeze axes \(axes) repeat") }
        var shape: [Int] = []
        var rest = input.makeIterator()
        for axis in 0..<rank { shape.append(normalized.contains(axis) ? 1 : rest.next()!) }
        return shape
    }

    static func flattened(_ input: [Int], axis: Int) throws -> [Int] {
        let resolved = axis < 0 ? axis + input.count : axis
        guard resolved >= 0, resolved <= input.count else { throw ImportError("flatten axis \(axis) is out of range") }
        return [input[..<resolved].reduce(1, *), input[resolved...].reduce(1, *)]
    }
}
