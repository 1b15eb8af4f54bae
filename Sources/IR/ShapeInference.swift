extension Op {
    /// Operand count this op takes: a range because bias operands are optional.
    public var operandCounts: ClosedRange<Int> {
        switch self {
        case .constant: return 0...0
        case .conv, .dense: return 2...3
        case .batchNorm: return 5...5
        case .add, .sub, .mul, .div: return 2...2
        case .concat: return 1...Int.max
        case .relu, .relu6, .clip, .blockReLU, .maxPool, .avgPool, .globalAvgPool, .reshape, .transpose, .slice, .pad, .resize,
            .identity, .softmax, .argMax:
            return 1...1
        }
    }

    /// The result type of this op applied to operands of the given types, or an error
    /// saying which rule they break. This is the single definition of every op's shape
    /// semantics; the verifier and every builder use it.
    public func resultType(operands: [TensorType]) throws -> TensorType {
        guard operandCounts.contains(operands.count) else {
            throw IRError("\(mnemonic) takes \(operandCounts.lowerBound == operandCounts.upperBound ? "\(operandCounts.lowerBound)" : "\(operandCounts.lowerBound) or more") operands, got \(operands.count)")
        }
        if case .constant(let tensor) = self { return tensor.type }
        for (index, operand) in operands.enumerated() where operand.dtype != .f32 {
            throw IRError("\(mnemonic) operand \(index) is \(operand), expected f32")
        }
        let x = operands[0]
        switch self {
        case .constant:
            fatalError("handled above")
        case .conv(let conv):
            return try convType(x, operands, conv)
        case .dense:
            return try denseType(x, operands)
        case .batchNorm(let epsilon):
            return try batchNormType(x, operands, epsilon: epsilon)
        case .relu, .relu6, .identity:
            return x
        case .clip(let low, let high):
            guard !low.isNaN, !high.isNaN, low <= high else { throw IRError("clip bounds [\(low), \(high)] are invalid") }
            return x
        case .blockReLU(let plan):
            return try blockReLUType(x, plan)
        case .maxPool(let pool), .avgPool(let pool):
            return try poolType(x, pool)
        case .globalAvgPool:
            guard x.rank >= 3 else { throw IRError("global_avg_pool needs rank 3 or more, got \(x)") }
            return TensorType(.f32, Array(x.shape.prefix(2)) + Array(repeating: 1, count: x.rank - 2))
        case .add, .sub, .mul, .div:
            return TensorType(.f32, try broadcastShape(x.shape, operands[1].shape))
        case .reshape(let shape):
            guard shape.allSatisfy({ $0 >= 0 }), shape.checkedProduct == x.elementCount else {
                throw IRError("cannot reshape \(x) to \(shape)")
            }
            return TensorType(.f32, shape)
        case .transpose(let perm):
            guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else {
                throw IRError("transpose permutation \(perm) does not fit \(x)")
            }
            return TensorType(.f32, perm.map { x.shape[$0] })
        case .slice(let starts, let steps, let sizes):
            return try sliceType(x, starts: starts, steps: steps, sizes: sizes)
        case .concat(let axis):
            return try concatType(x, operands, axis: axis)
        case .pad(let pads, let value):
            guard value.isFinite else { throw IRError("pad value \(value) is not finite") }
            guard pads.count == 2 * x.rank, pads.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }) else {
                throw IRError("pad amounts \(pads) do not fit \(x)")
            }
            return TensorType(.f32, x.shape.enumerated().map { $0.element + pads[$0.offset] + pads[$0.offset + x.rank] })
        case .resize(let resize):
            guard resize.sizes.count == x.rank, resize.scales.count == x.rank,
                resize.sizes.allSatisfy({ $0 >= 1 }), resize.scales.allSatisfy({ $0 > 0 && $0.isFinite })
            else { throw IRError("resize sizes \(resize.sizes) / scales \(resize.scales) do not fit \(x)") }
            return TensorType(.f32, resize.sizes)
        case .softmax(let axis):
            guard axis >= 0, axis < x.rank else { throw IRError("softmax axis \(axis) is out of range for \(x)") }
            return x
        case .argMax(let argMax):
            guard argMax.axis >= 0, argMax.axis < x.rank else {
                throw IRError("argmax axis \(argMax.axis) is out of range for \(x)")
            }
            var shape = x.shape
            if argMax.keepDims { shape[argMax.axis] = 1 } else { shape.remove(at: argMax.axis) }
            return TensorType(.i64, shape)
        }
    }

    /// conv: grouped weights, optional bias, windows without ceil mode.
    private func convType(_ x: TensorType, _ operands: [TensorType], _ conv: Conv2D) throws -> TensorType {
        let w = operands[1]
        try requireRank(x, 4, "input")
        try requireRank(w, 4, "weight")
        try requirePairs(conv.strides, conv.dilations, pads: conv.pads)
        guard conv.group >= 1, x.shape[1] % conv.group == 0, w.shape[0] % conv.group == 0,
            w.shape[1] * conv.group == x.shape[1]
        else {
            throw IRError("conv weight \(w) does not fit input \(x) with group \(conv.group)")
        }
        if operands.count == 3 { try requireShape(operands[2], [w.shape[0]], "bias") }
        let h = try windowCount(x.shape[2], kernel: w.shape[2], stride: conv.strides[0], dilation: conv.dilations[0], padBegin: conv.pads[0], padEnd: conv.pads[2], ceil: false)
        let wd = try windowCount(x.shape[3], kernel: w.shape[3], stride: conv.strides[1], dilation: conv.dilations[1], padBegin: conv.pads[1], padEnd: conv.pads[3], ceil: false)
        return TensorType(.f32, [x.shape[0], w.shape[0], h, wd])
    }

    /// dense: over the last axis.
    private func denseType(_ x: TensorType, _ operands: [TensorType]) throws -> TensorType {
        let w = operands[1]
        try requireRank(w, 2, "weight")
        guard x.rank >= 1, x.shape[x.rank - 1] == w.shape[1] else {
            throw IRError("dense weight \(w) does not fit input \(x): the last input axis must be \(w.shape[1])")
        }
        if operands.count == 3 { try requireShape(operands[2], [w.shape[0]], "bias") }
        return TensorType(.f32, Array(x.shape.dropLast()) + [w.shape[0]])
    }

    /// batch_norm: four per-channel parameters.
    private func batchNormType(_ x: TensorType, _ operands: [TensorType], epsilon: Float) throws -> TensorType {
        guard x.rank >= 2 else { throw IRError("batch_norm needs an input of rank 2 or more, got \(x)") }
        guard epsilon >= 0, epsilon.isFinite else { throw IRError("batch_norm epsilon \(epsilon) is invalid") }
        for (index, parameter) in operands.dropFirst().enumerated() {
            try requireShape(parameter, [x.shape[1]], ["scale", "bias", "mean", "variance"][index])
        }
        return x
    }

    /// block_relu: one valid block size per channel.
    private func blockReLUType(_ x: TensorType, _ plan: BlockReLUPlan) throws -> TensorType {
        try requireRank(x, 4, "input")
        guard plan.blocks.count == x.shape[1] else {
            throw IRError("block_relu plan has \(plan.blocks.count) channels, input \(x) has \(x.shape[1])")
        }
        for block in plan.blocks where !(block.isPatch || block.isIdentity || block.isZero) {
            throw IRError("block_relu block size \(block.height)x\(block.width) is invalid")
        }
        return x
    }

    /// max_pool and avg_pool: windows over the last two axes.
    private func poolType(_ x: TensorType, _ pool: Pool2D) throws -> TensorType {
        try requireRank(x, 4, "input")
        try requirePairs(pool.strides, pool.dilations, pads: pool.pads)
        guard pool.kernel.count == 2, pool.kernel.allSatisfy({ $0 >= 1 }) else {
            throw IRError("\(mnemonic) kernel \(pool.kernel) is invalid")
        }
        // A window must not lie entirely in padding.
        guard pool.pads[0] < pool.kernel[0], pool.pads[2] < pool.kernel[0], pool.pads[1] < pool.kernel[1], pool.pads[3] < pool.kernel[1] else {
            throw IRError("\(mnemonic) pads \(pool.pads) must be smaller than the kernel \(pool.kernel)")
        }
        let h = try windowCount(x.shape[2], kernel: pool.kernel[0], stride: pool.strides[0], dilation: pool.dilations[0], padBegin: pool.pads[0], padEnd: pool.pads[2], ceil: pool.ceilMode)
        let w = try windowCount(x.shape[3], kernel: pool.kernel[1], stride: pool.strides[1], dilation: pool.dilations[1], padBegin: pool.pads[1], padEnd: pool.pads[3], ceil: pool.ceilMode)
        return TensorType(.f32, [x.shape[0], x.shape[1], h, w])
    }

    /// slice: every selected index inside its axis.
    private func sliceType(_ x: TensorType, starts: [Int], steps: [Int], sizes: [Int]) throws -> TensorType {
        guard starts.count == x.rank, steps.count == x.rank, sizes.count == x.rank else {
            throw IRError("slice starts \(starts), steps \(steps) and sizes \(sizes) do not fit \(x)")
        }
        for axis in 0..<x.rank {
            let (start, step, size) = (starts[axis], steps[axis], sizes[axis])
            guard step != 0, abs(step) < 1 << 31, size >= 0, size < 1 << 31, start >= 0, start < 1 << 31 else {
                throw IRError("slice step \(step), start \(start) or size \(size) on axis \(axis) is invalid")
            }
            let last = start + (size - 1) * step
            guard size == 0 || (start < x.shape[axis] && last >= 0 && last < x.shape[axis]) else {
                throw IRError("slice from \(start) by \(step) for \(size) leaves axis \(axis) of \(x)")
            }
        }
        return TensorType(.f32, sizes)
    }

    /// concat: equal shapes outside the axis.
    private func concatType(_ x: TensorType, _ operands: [TensorType], axis: Int) throws -> TensorType {
        guard axis >= 0, axis < x.rank else { throw IRError("concat axis \(axis) is out of range for \(x)") }
        var shape = x.shape
        for other in operands.dropFirst() {
            guard other.rank == x.rank,
                zip(other.shape, x.shape).enumerated().allSatisfy({ $0.offset == axis || $0.element.0 == $0.element.1 })
            else { throw IRError("concat operands \(x) and \(other) differ outside axis \(axis)") }
            shape[axis] += other.shape[axis]
        }
        return TensorType(.f32, shape)
    }

    /// Comparisons (DReLUs) this op costs in a secure evaluation, for reports.
    public func dreluCount(input: TensorType, output: TensorType) -> Int {
        switch self {
        case .relu: return input.elementCount
        case .relu6, .clip: return 2 * input.elementCount
        case .blockReLU(let plan):
            guard input.rank == 4 else { return 0 }
            let perChannel = plan.blocks.map { $0.drelus(height: input.shape[2], width: input.shape[3]) }.reduce(0, +)
            return perChannel * input.shape[0]
        case .maxPool(let pool):
            return output.elementCount * max(0, pool.kernel[0] * pool.kernel[1] - 1)
        case .constant, .conv, .dense, .batchNorm, .avgPool, .globalAvgPool, .add, .sub, .mul, .div, .reshape, .transpose, .slice,
            .concat, .pad, .resize, .identity, .softmax, .argMax:
            return 0
        }
    }
}

/// Output length of a sliding window along one axis (convolution or pooling). In ceil
/// mode a last window that would start in the end padding is dropped (PyTorch/ONNX rule).
public func windowCount(_ size: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int, ceil: Bool) throws -> Int {
    let limit = 1 << 31  // keeps the arithmetic below far from overflow on hostile input
    guard [size, kernel, stride, dilation, padBegin, padEnd].allSatisfy({ abs($0) < limit }) else {
        throw IRError("window parameters \([size, kernel, stride, dilation, padBegin, padEnd]) are out of range")
    }
    let span = dilation * (kernel - 1) + 1
    let padded = size + padBegin + padEnd
    guard stride >= 1, dilation >= 1, kernel >= 1, padBegin >= 0, padEnd >= 0, padded >= span else {
        throw IRError("a window of \(kernel) (dilation \(dilation), stride \(stride)) does not fit an axis of \(size) with pads \(padBegin)+\(padEnd)")
    }
    var count = (padded - span) / stride + 1
    if ceil && (padded - span) % stride != 0 {
        count += 1
        if (count - 1) * stride >= size + padBegin { count -= 1 }
    }
    return count
}

/// NumPy broadcasting of two shapes.
public func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
    let rank = max(a.count, b.count)
    let left = Array(repeating: 1, count: rank - a.count) + a
    let right = Array(repeating: 1, count: rank - b.count) + b
    return try zip(left, right).map { x, y in
        if x == y || y == 1 { return x }
        if x == 1 { return y }
        throw IRError("shapes \(a) and \(b) do not broadcast")
    }
}

private func requireRank(_ type: TensorType, _ rank: Int, _ what: String) throws {
    guard type.rank == rank else { throw IRError("\(what) must have rank \(rank), got \(type)") }
}

private func requireShape(_ type: TensorType, _ shape: [Int], _ what: String) throws {
    guard type.shape == shape else { throw IRError("\(what) must have shape \(shape), got \(type)") }
}

private func requirePairs(_ strides: [Int], _ dilations: [Int], pads: [Int]) throws {
    guard strides.count == 2, strides.allSatisfy({ $0 >= 1 }), dilations.count == 2, dilations.allSatisfy({ $0 >= 1 }),
        pads.count == 4, pads.allSatisfy({ $0 >= 0 })
    else { throw IRError("strides \(strides), dilations \(dilations) or pads \(pads) are invalid") }
}
