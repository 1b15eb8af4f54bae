import IR

typealias OpImporter = @Sendable (NodeContext) throws -> ImportOutcome

/// Every ONNX op type the frontend reads, and how. The keys are the supported set: a
/// node whose type is missing here is reported as unsupported.
let opImporters: [String: OpImporter] = [
    "Conv": importConv,
    "Gemm": importGemm,
    "MatMul": importMatMul,
    "BatchNormalization": importBatchNorm,
    "Relu": { c in .value(try c.emit(.relu, [try c.value(0)])) },
    "Clip": importClip,
    "HardSigmoid": { c in .value(try hardSigmoid(c, of: try c.value(0), alpha: try c.float("alpha") ?? 0.2, beta: try c.float("beta") ?? 0.5, last: true)) },
    "HardSwish": importHardSwish,
    "Sigmoid": importSigmoid,
    "MaxPool": { c in try importPool(c, max: true) },
    "AveragePool": { c in try importPool(c, max: false) },
    "GlobalAveragePool": { c in .value(try c.emit(.globalAvgPool, [try c.value(0)])) },
    "GlobalMaxPool": importGlobalMaxPool,
    "ReduceMean": importReduceMean,
    "Add": { c in try importBinary(c, .add) },
    "Sub": { c in try importBinary(c, .sub) },
    "Mul": { c in try importBinary(c, .mul) },
    "Div": { c in try importBinary(c, .div) },
    "Sum": importSum,
    "Flatten": { c in try importReshapeLike(c) { try Fold.flattened($0, axis: try c.int("axis") ?? 1) } },
    "Reshape": importReshape,
    "Squeeze": { c in try importReshapeLike(c) { try Fold.squeezed($0, axes: try axesInput(c, attributeBefore: 13)) } },
    "Unsqueeze": importUnsqueeze,
    "Concat": importConcat,
    "Split": importSplit,
    "Pad": importPad,
    "Resize": importResize,
    "Upsample": importResize,
    "Transpose": importTranspose,
    "Identity": importIdentity,
    "Dropout": importIdentity,
    "Softmax": importSoftmax,
    "ArgMax": importArgMax,
    // Evaluated at import time (constants only): the shape arithmetic of exporters.
    "Constant": importConstant,
    "ConstantOfShape": importConstantOfShape,
    "Shape": importShape,
    "Gather": { c in .constant(try Fold.gather(try c.requireConstant(0, "data"), indices: try c.requireConstant(1, "indices"), axis: try c.int("axis") ?? 0)) },
    "Slice": importSlice,
    "Cast": importCast,
    "Expand": { c in .constant(try Fold.expand(try c.requireConstant(0, "input"), to: try c.requireConstant(1, "shape").ints.map { Int($0) })) },
    "Range": importRange,
    "Floor": { c in try foldUnary(c, { $0.rounded(.down) }) },
    "Ceil": { c in try foldUnary(c, { $0.rounded(.up) }) },
    "Neg": importNeg,
    "Sqrt": { c in try foldUnary(c, { $0.squareRoot() }) },
    "Equal": { c in try foldBinary(c, float: { $0 == $1 ? 1 : 0 }, int: { $0 == $1 ? 1 : 0 }, integerResult: true) },
    "Less": { c in try foldBinary(c, float: { $0 < $1 ? 1 : 0 }, int: { $0 < $1 ? 1 : 0 }, integerResult: true) },
    "Greater": { c in try foldBinary(c, float: { $0 > $1 ? 1 : 0 }, int: { $0 > $1 ? 1 : 0 }, integerResult: true) },
    "Min": { c in try foldBinary(c, float: { Swift.min($0, $1) }, int: { Swift.min($0, $1) }) },
    "Max": { c in try foldBinary(c, float: { Swift.max($0, $1) }, int: { Swift.max($0, $1) }) },
    "Where": importWhere,
]

// MARK: linear layers

private func importConv(_ c: NodeContext) throws -> ImportOutcome {
    let x = try c.type(0)
    guard x.rank == 4 else { throw Unsupported("\(x.rank - 2)-D convolution (only 2-D is supported)") }
    let weight = try c.requireConstant(1, "weight")
    guard weight.shape.count == 4 else { throw ImportError("the weight has shape \(weight.shape), expected 4-D") }
    let kernel = [weight.shape[2], weight.shape[3]]
    if let declared = try c.ints("kernel_shape"), declared != kernel {
        throw ImportError("kernel_shape \(declared) does not match the weight's shape \(weight.shape)")
    }
    let strides = try c.pair("strides", default: [1, 1])
    let dilations = try c.pair("dilations", default: [1, 1])
    let pads = try c.spatialPads(input: [x.shape[2], x.shape[3]], kernel: kernel, strides: strides, dilations: dilations)
    var operands = [try c.value(0), try c.value(1)]
    if try c.optionalConstant(2, "bias") != nil { operands.append(try c.value(2)) }
    let conv = Conv2D(strides: strides, pads: pads, dilations: dilations, group: try c.int("group") ?? 1)
    return .value(try c.emit(.conv(conv), operands))
}

/// Gemm: Y = alpha * A * op(B) + beta * C, imported as `dense` with the weight as
/// [N, K] and alpha and beta folded into the constants.
private func importGemm(_ c: NodeContext) throws -> ImportOutcome {
    let a = try c.type(0)
    guard a.rank == 2 else { throw ImportError("Gemm input A has shape \(a.shape), expected 2-D") }
    if try c.int("transA") ?? 0 != 0 { throw Unsupported("transA=1 on a computed input") }
    let alpha = try c.float("alpha") ?? 1
    let beta = try c.float("beta") ?? 1
    let b = try c.requireConstant(1, "B operand")
    guard b.shape.count == 2 else { throw ImportError("Gemm input B has shape \(b.shape), expected 2-D") }
    var weight = try c.int("transB") ?? 0 != 0 ? b : try Fold.transpose(b, perm: [1, 0])
    if alpha != 1 { weight = Fold.unary(weight, float: { $0 * alpha }, int: { $0 }) }
    let n = weight.shape[0]
    var operands = [try c.value(0), weight == b ? try c.value(1) : c.addConstant(weight.asFloat, name: c.inputName(1))]
    if let bias = try c.optionalConstant(2, "C operand"), beta != 0 {
        let rows = try Fold.expand(bias, to: [a.shape[0], n]).floats
        let first = Array(rows[0..<n])
        for row in 1..<a.shape[0] where Array(rows[(row * n)..<((row + 1) * n)]) != first {
            throw Unsupported("a C operand that differs between rows")
        }
        operands.append(c.addConstant(Tensor(shape: [n], floats: first.map { $0 * beta }), name: c.inputName(2)))
    }
    return .value(try c.emit(.dense, operands))
}

/// MatMul with a constant right operand: `dense` over the last axis.
private func importMatMul(_ c: NodeContext) throws -> ImportOutcome {
    guard let b = c.constant(1) else {
        throw Unsupported(c.isConstant(0) ? "a constant left operand times a computed right operand" : "both operands are computed")
    }
    let a = try c.type(0)
    guard a.rank >= 1 else { throw ImportError("MatMul of a scalar") }
    switch b.shape.count {
    case 2:
        let weight = try Fold.transpose(b, perm: [1, 0]).asFloat
        return .value(try c.emit(.dense, [try c.value(0), c.addConstant(weight, name: c.inputName(1))]))
    case 1:
        // x[..., K] * b[K] drops the last axis.
        let weight = b.asFloat.reshaped([1, b.shape[0]])
        let product = try c.emit(.dense, [try c.value(0), c.addConstant(weight, name: c.inputName(1))], name: c.outputName + "/matvec")
        return .value(try c.emit(.reshape(shape: Array(a.shape.dropLast())), [product]))
    default:
        throw Unsupported("a batched constant operand of rank \(b.shape.count)")
    }
}

private func importBatchNorm(_ c: NodeContext) throws -> ImportOutcome {
    if c.opset < 9, try c.int("spatial") ?? 1 != 1 { throw Unsupported("spatial=0 (per-activation statistics)") }
    if try c.int("training_mode") ?? 0 != 0 { throw Unsupported("training mode") }
    if (1..<5).contains(where: c.outputUsed) { throw Unsupported("its training outputs are used") }
    for (index, what) in [(1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")] { _ = try c.requireConstant(index, what) }
    let operands = try (0..<5).map { try c.value($0) }
    return .value(try c.emit(.batchNorm(epsilon: try c.float("epsilon") ?? 1e-5), operands))
}

// MARK: nonlinearities and pooling

/// Clip(0, 6) is ReLU6, Clip(0, inf) is ReLU; other bounds stay a clip.
private func importClip(_ c: NodeContext) throws -> ImportOutcome {
    var low = -Float.infinity
    var high = Float.infinity
    if c.opset < 11 {
        low = try c.float("min") ?? low
        high = try c.float("max") ?? high
    } else {
        for (index, what) in [(1, "min"), (2, "max")] {
            guard let bound = try c.optionalConstant(index, what) else { continue }
            guard bound.elementCount == 1 else { throw ImportError("the \(what) bound has \(bound.elementCount) values, expected one") }
            if index == 1 { low = bound.floats[0] } else { high = bound.floats[0] }
        }
    }
    // Exporters write "no bound" as the largest finite float.
    if low <= -Float.greatestFiniteMagnitude { low = -.infinity }
    if high >= Float.greatestFiniteMagnitude { high = .infinity }
    let op: Op = low == 0 && high == 6 ? .relu6 : low == 0 && high == .infinity ? .relu : .clip(min: low, max: high)
    return .value(try c.emit(op, [try c.value(0)]))
}

/// HardSigmoid: clip(alpha x + beta, 0, 1), from the ops mpcc computes (a scale, a
/// shift, a clip); `last` gives the clip the node's output name.
private func hardSigmoid(_ c: NodeContext, of x: ValueID, alpha: Float, beta: Float, last: Bool) throws -> ValueID {
    let name = c.outputName
    let scaled = try c.emit(.mul, [x, c.addConstant(Tensor(shape: [1], floats: [alpha]), name: "\(name)/alpha")], name: "\(name)/scaled")
    let shifted = try c.emit(.add, [scaled, c.addConstant(Tensor(shape: [1], floats: [beta]), name: "\(name)/beta")], name: "\(name)/shifted")
    return try c.emit(.clip(min: 0, max: 1), [shifted], name: last ? nil : "\(name)/gate")
}

/// HardSwish: x * HardSigmoid(x) with alpha 1/6 and beta 1/2 (a product of two
/// computed tensors).
private func importHardSwish(_ c: NodeContext) throws -> ImportOutcome {
    let x = try c.value(0)
    return .value(try c.emit(.mul, [x, try hardSigmoid(c, of: x, alpha: 1 / 6, beta: 0.5, last: false)]))
}

let sigmoidReason = "no secure protocol; --approx-sigmoid uses a piecewise-linear approximation within "
    + "\(SigmoidApproximation.maxError) of it (\(SigmoidApproximation.comparisons) comparisons per element)"

/// Sigmoid, opt in: `SigmoidApproximation` from ReLUs of shifted copies (clips, so the
/// block-ReLU planner leaves them alone) and constant slopes.
private func importSigmoid(_ c: NodeContext) throws -> ImportOutcome {
    guard c.importer.options.approximateSigmoid else { throw Unsupported(sigmoidReason) }
    let type = try c.type(0), name = c.outputName
    c.importer.approximatedSigmoids.append(name)
    guard type.rank >= 2 else {
        // Stacked along axis 1: a lower rank is computed as one row.
        let row = [1, type.elementCount]
        let flat = try c.emit(.reshape(shape: row), [try c.value(0)], name: "\(name)/row")
        return .value(try c.emit(.reshape(shape: type.shape), [try sigmoidApproximation(c, flat, shape: row, name: name, last: "\(name)/approximation")]))
    }
    return .value(try sigmoidApproximation(c, try c.value(0), shape: type.shape, name: name, last: nil))
}

/// 0.5 + [x, d_1 ... d_K] . [c_0 ... c_K] per channel block, d_i = relu(x - t_i) -
/// relu(-x - t_i): the 2K comparisons are one clip of the 2K shifted copies stacked
/// along axis 1 (one comparison instruction, so they share rounds) and the K + 1 slopes
/// one product by a per-channel constant (one truncation). `last` names the result
/// (nil: the node's output).
private func sigmoidApproximation(_ c: NodeContext, _ x: ValueID, shape: [Int], name: String, last: String?) throws -> ValueID {
    let knots = Array(SigmoidApproximation.knots.dropFirst()), channels = shape[1]
    func scalar(_ value: Float, _ label: String) -> ValueID { c.addConstant(Tensor(shape: [1], floats: [value]), name: "\(name)/\(label)") }
    // The `count` blocks of `channels` along axis 1 of `value`.
    func blocks(_ value: ValueID, count: Int, _ label: String) throws -> [ValueID] {
        try (0..<count).map { index in
            var starts = [Int](repeating: 0, count: shape.count)
            starts[1] = index * channels
            return try c.emit(.slice(starts: starts, steps: [Int](repeating: 1, count: shape.count), sizes: shape), [value], name: "\(name)/\(label)\(index)")
        }
    }
    // 0 - x: a local negation (a product by -1 would be a masked weight and a truncation).
    let negated = try c.emit(.sub, [scalar(0, "zero"), x], name: "\(name)/negated")
    let knotValues = knots.enumerated().map { scalar($0.element, "knot\($0.offset + 1)") }
    var shifted: [ValueID] = []
    for (side, value) in [("right", x), ("left", negated)] {
        for (index, knot) in knotValues.enumerated() {
            shifted.append(try c.emit(.sub, [value, knot], name: "\(name)/\(side)\(index + 1)"))
        }
    }
    let compared = try c.emit(.clip(min: 0, max: .infinity), [try c.emit(.concat(axis: 1), shifted, name: "\(name)/shifted")], name: "\(name)/compared")
    let parts = try blocks(compared, count: 2 * knots.count, "part")
    let differences = try knots.indices.map { try c.emit(.sub, [parts[$0], parts[knots.count + $0]], name: "\(name)/difference\($0 + 1)") }
    let terms = try c.emit(.concat(axis: 1), [x] + differences, name: "\(name)/terms")
    var slopeShape = [Int](repeating: 1, count: shape.count)
    slopeShape[1] = (knots.count + 1) * channels
    let slopes = SigmoidApproximation.coefficients.flatMap { [Float](repeating: $0, count: channels) }
    let scaled = try c.emit(.mul, [terms, c.addConstant(Tensor(shape: slopeShape, floats: slopes), name: "\(name)/slopes")], name: "\(name)/scaled")
    var sum: ValueID?
    for (index, term) in try blocks(scaled, count: knots.count + 1, "term").enumerated() {
        sum = try sum.map { try c.emit(.add, [$0, term], name: "\(name)/sum\(index)") } ?? term
    }
    return try c.emit(.add, [sum!, scalar(0.5, "half")], name: last)
}

private func importPool(_ c: NodeContext, max: Bool) throws -> ImportOutcome {
    let x = try c.type(0)
    guard x.rank == 4 else { throw Unsupported("\(x.rank - 2)-D pooling (only 2-D is supported)") }
    guard try c.ints("kernel_shape") != nil else { throw ImportError("kernel_shape is missing") }
    let kernel = try c.pair("kernel_shape", default: [1, 1])
    let strides = try c.pair("strides", default: [1, 1])
    let dilations = try c.pair("dilations", default: [1, 1])
    let pads = try c.spatialPads(input: [x.shape[2], x.shape[3]], kernel: kernel, strides: strides, dilations: dilations)
    if max && c.outputUsed(1) { throw Unsupported("its Indices output is used") }
    let pool = Pool2D(
        kernel: kernel, strides: strides, pads: pads, dilations: dilations,
        ceilMode: try c.int("ceil_mode") ?? 0 != 0, countIncludePad: try c.int("count_include_pad") ?? 0 != 0)
    return .value(try c.emit(max ? .maxPool(pool) : .avgPool(pool), [try c.value(0)]))
}

/// GlobalMaxPool is a max pool whose window is the whole map.
private func importGlobalMaxPool(_ c: NodeContext) throws -> ImportOutcome {
    let x = try c.type(0)
    guard x.rank == 4 else { throw Unsupported("\(x.rank - 2)-D pooling (only 2-D is supported)") }
    return .value(try c.emit(.maxPool(Pool2D(kernel: [x.shape[2], x.shape[3]])), [try c.value(0)]))
}

/// ReduceMean over the two spatial axes of a 4-D tensor is a global average pool.
private func importReduceMean(_ c: NodeContext) throws -> ImportOutcome {
    let x = try c.type(0)
    var axes = try axesInput(c, attributeBefore: 18) ?? []
    if axes.isEmpty {
        if try c.int("noop_with_empty_axes") ?? 0 != 0 { return try importIdentity(c) }
        axes = Array(0..<x.rank)
    }
    let normalized = try Set(axes.map { try c.normalizedAxis($0, rank: x.rank) }).sorted()
    guard x.rank == 4, normalized == [2, 3] else {
        throw Unsupported("it averages over axes \(normalized) of a rank-\(x.rank) tensor; only the spatial axes [2, 3] of a 4-D tensor are supported")
    }
    let keepDims = try c.int("keepdims") ?? 1 != 0
    let pooled = try c.emit(.globalAvgPool, [try c.value(0)], name: keepDims ? nil : c.outputName + "/pooled")
    if keepDims { return .value(pooled) }
    return .value(try c.emit(.reshape(shape: [x.shape[0], x.shape[1]]), [pooled]))
}

// MARK: elementwise

private func importBinary(_ c: NodeContext, _ op: Op) throws -> ImportOutcome {
    if c.opset < 7, try c.int("broadcast") ?? 0 != 0, let axis = try c.int("axis") {
        return try importLegacyBroadcast(c, op, axis: axis)
    }
    if let a = c.constant(0), let b = c.constant(1) {
        switch op {
        case .add: return .constant(try Fold.binary(a, b, float: +, int: { $0 &+ $1 }))
        case .sub: return .constant(try Fold.binary(a, b, float: -, int: { $0 &- $1 }))
        case .mul: return .constant(try Fold.binary(a, b, float: *, int: { $0 &* $1 }))
        default:
            return .constant(try Fold.binary(a, b, float: /) { x, y in
                let (quotient, overflow) = x.dividedReportingOverflow(by: y)
                guard y != 0, !overflow else { throw ImportError("integer division \(x) / \(y) is undefined") }
                return quotient
            })
        }
    }
    if op == .div && !c.isConstant(1) { throw Unsupported("the divisor is computed") }
    return .value(try c.emit(op, [try c.value(0), try c.value(1)]))
}

/// Opsets before 7 broadcast B against A starting at `axis` (B's shape [C] on axis 1 of
/// an NCHW tensor means [C,1,1]); with a constant B that is a reshape of B.
private func importLegacyBroadcast(_ c: NodeContext, _ op: Op, axis: Int) throws -> ImportOutcome {
    let rank = try c.type(0).rank
    let b = try c.requireConstant(1, "broadcast operand")
    let start = try c.normalizedAxis(axis, rank: rank)
    guard start + b.shape.count <= rank else { throw ImportError("operand B \(b.shape) does not fit at axis \(axis)") }
    let aligned = b.asFloat.reshaped(b.shape + Array(repeating: 1, count: rank - start - b.shape.count))
    return .value(try c.emit(op, [try c.value(0), c.addConstant(aligned, name: c.inputName(1))]))
}

private func importSum(_ c: NodeContext) throws -> ImportOutcome {
    guard c.inputCount >= 1 else { throw ImportError("Sum has no inputs") }
    if (0..<c.inputCount).allSatisfy(c.isConstant) {
        var total = c.constant(0)!
        for index in 1..<c.inputCount { total = try Fold.binary(total, c.constant(index)!, float: +, int: { $0 &+ $1 }) }
        return .constant(total)
    }
    var total = try c.value(0)
    for index in 1..<c.inputCount {
        let last = index == c.inputCount - 1
        total = try c.emit(.add, [total, try c.value(index)], name: last ? nil : "\(c.outputName)/sum\(index)")
    }
    return .value(total)
}

// MARK: data movement

/// An op that only changes the shape: folded on constants, `reshape` on values.
private func importReshapeLike(_ c: NodeContext, _ newShape: ([Int]) throws -> [Int]) throws -> ImportOutcome {
    let shape = try newShape(try c.type(0).shape)
    if let constant = c.constant(0) {
        guard shape.checkedProduct == constant.elementCount else { throw ImportError("cannot reshape \(constant.shape) to \(shape)") }
        return .constant(constant.reshaped(shape))
    }
    return .value(try c.emit(.reshape(shape: shape), [try c.value(0)]))
}

private func importReshape(_ c: NodeContext) throws -> ImportOutcome {
    let target: [Int64]
    if c.opset < 5 {
        guard let shape = try c.ints("shape") else { throw ImportError("the shape attribute is missing") }
        target = shape.map { Int64($0) }
    } else {
        target = try c.requireConstant(1, "shape").ints
    }
    let allowZero = try c.int("allowzero") ?? 0 != 0
    return try importReshapeLike(c) { try Fold.reshapeTarget($0, target, allowZero: allowZero) }
}

private func importUnsqueeze(_ c: NodeContext) throws -> ImportOutcome {
    guard let axes = try axesInput(c, attributeBefore: 13) else { throw ImportError("axes are missing") }
    return try importReshapeLike(c) { try Fold.unsqueezed($0, axes: axes) }
}

/// Axes from the `axes` attribute (opsets before `attributeBefore`) or input 1.
private func axesInput(_ c: NodeContext, attributeBefore version: Int) throws -> [Int]? {
    if c.opset < version { return try c.ints("axes") }
    return try c.optionalConstant(1, "axes")?.ints.map { Int($0) }
}

private func importConcat(_ c: NodeContext) throws -> ImportOutcome {
    guard let axisAttribute = try c.int("axis") else { throw ImportError("the axis attribute is missing") }
    let inputs = (0..<c.inputCount).filter { c.input($0) != nil }
    guard let first = inputs.first else { throw ImportError("Concat has no inputs") }
    let axis = try c.normalizedAxis(axisAttribute, rank: try c.type(first).rank)
    if inputs.allSatisfy(c.isConstant) {
        return .constant(try Fold.concat(inputs.map { c.constant($0)! }, axis: axis))
    }
    return .value(try c.emit(.concat(axis: axis), try inputs.map { try c.value($0) }))
}

/// Split along an axis into slices (sizes from the `split` attribute or input, else
/// equal parts, the last one smaller when opset 18's num_outputs does not divide).
private func importSplit(_ c: NodeContext) throws -> ImportOutcome {
    let shape = try c.type(0).shape
    let axis = try c.normalizedAxis(try c.int("axis") ?? 0, rank: shape.count)
    let parts = c.node.outputs.count
    guard parts >= 1 else { throw ImportError("Split has no outputs") }
    var sizes: [Int]
    if let given = c.opset < 13 ? try c.ints("split") : try c.optionalConstant(1, "split")?.ints.map({ Int($0) }) {
        sizes = given
    } else {
        let chunk = (shape[axis] + parts - 1) / parts
        sizes = (0..<parts).map { min(chunk, max(0, shape[axis] - $0 * chunk)) }
    }
    guard sizes.count == parts, sizes.allSatisfy({ $0 >= 0 && $0 <= shape[axis] }), sizes.reduce(0, +) == shape[axis] else {
        throw ImportError("split sizes \(sizes) do not divide axis \(axis) of \(shape) into \(parts) outputs")
    }
    let input = try c.value(0)
    var start = 0
    var results: [ValueID] = []
    for (index, size) in sizes.enumerated() {
        var starts = [Int](repeating: 0, count: shape.count)
        var outShape = shape
        starts[axis] = start
        outShape[axis] = size
        let steps = [Int](repeating: 1, count: shape.count)
        results.append(try c.emit(.slice(starts: starts, steps: steps, sizes: outShape), [input], name: c.node.outputs[index]))
        start += size
    }
    return .values(results)
}

private func importPad(_ c: NodeContext) throws -> ImportOutcome {
    let mode = try c.string("mode") ?? "constant"
    guard mode == "constant" else { throw Unsupported("mode '\(mode)' (only constant padding is supported)") }
    let rank = try c.type(0).rank
    var pads: [Int]
    var value: Float = 0
    if c.opset < 11 {
        guard let attribute = try c.ints("pads") ?? c.ints("paddings") else { throw ImportError("pads are missing") }
        pads = attribute
        value = try c.float("value") ?? 0
    } else {
        pads = try c.requireConstant(1, "pads").ints.map { Int($0) }
        if let constant = try c.optionalConstant(2, "constant_value") { value = constant.floats.first ?? 0 }
        if let axes = try c.optionalConstant(3, "axes")?.ints {
            guard pads.count == 2 * axes.count else { throw ImportError("pads \(pads) do not fit axes \(axes)") }
            var full = [Int](repeating: 0, count: 2 * rank)
            for (index, axis) in axes.enumerated() {
                let resolved = try c.normalizedAxis(Int(axis), rank: rank)
                full[resolved] = pads[index]
                full[resolved + rank] = pads[index + axes.count]
            }
            pads = full
        }
    }
    guard pads.count == 2 * rank else { throw ImportError("pads \(pads) do not fit a rank-\(rank) input") }
    guard pads.allSatisfy({ $0 > -1 << 31 && $0 < 1 << 31 }) else { throw ImportError("pads \(pads) are invalid") }
    // Negative amounts crop: pad the positive part, then slice the negative part away.
    let grown = pads.map { max($0, 0) }
    let cropped = pads.contains { $0 < 0 }
    var result = try c.value(0)
    if grown.contains(where: { $0 > 0 }) || !cropped {
        result = try c.emit(.pad(pads: grown, value: value), [result], name: cropped ? c.outputName + "/pad" : nil)
    }
    if cropped {
        let padded = c.importer.graph.type(of: result).shape
        let starts = (0..<rank).map { max(-pads[$0], 0) }
        let sizes = (0..<rank).map { padded[$0] - starts[$0] - max(-pads[$0 + rank], 0) }
        guard sizes.allSatisfy({ $0 >= 1 }) else { throw ImportError("pads \(pads) crop the whole tensor") }
        result = try c.emit(.slice(starts: starts, steps: Array(repeating: 1, count: rank), sizes: sizes), [result])
    }
    return .value(result)
}

/// Resize (opsets 10 to 19) and Upsample (7 to 9): nearest and linear interpolation of
/// the last axes to a static size.
private func importResize(_ c: NodeContext) throws -> ImportOutcome {
    let x = try c.type(0)
    let legacy = c.node.opType == "Upsample" || c.opset < 11
    var scales: [Float]?
    var sizes: [Int]?
    if c.node.opType == "Upsample" && c.opset < 9 {
        scales = try c.floats("scales")
    } else if legacy {
        scales = try c.requireConstant(1, "scales").floats
    } else {
        scales = try c.optionalConstant(2, "scales")?.floats
        sizes = try c.optionalConstant(3, "sizes")?.ints.map { Int($0) }
        if let axes = try c.ints("axes") {
            // Opset 18: scales/sizes name only some axes; the others keep their size.
            let resolved = try axes.map { try c.normalizedAxis($0, rank: x.rank) }
            if let given = scales, given.count == resolved.count {
                var full = [Float](repeating: 1, count: x.rank)
                for (index, axis) in resolved.enumerated() { full[axis] = given[index] }
                scales = full
            }
            if let given = sizes, given.count == resolved.count {
                var full = x.shape
                for (index, axis) in resolved.enumerated() { full[axis] = given[index] }
                sizes = full
            }
        }
        if let policy = try c.string("keep_aspect_ratio_policy"), policy != "stretch", sizes != nil {
            throw Unsupported("keep_aspect_ratio_policy '\(policy)'")
        }
    }
    guard (scales == nil) != (sizes == nil) else { throw ImportError("exactly one of scales and sizes must be given") }
    if let given = scales ?? sizes.map({ $0.map(Float.init) }), given.count != x.rank {
        throw ImportError("scales or sizes have \(given.count) entries for a rank-\(x.rank) input")
    }
    // Scales come from the file: check them before converting to sizes.
    if let scales, !zip(x.shape, scales).allSatisfy({ $1.isFinite && $1 > 0 && Float($0) * $1 < Float(1 << 20) }) {
        throw ImportError("scales \(scales) are invalid for input shape \(x.shape)")
    }
    let outSizes = sizes ?? zip(x.shape, scales!).map { Int((Float($0) * $1).rounded(.down)) }
    let outScales = scales ?? zip(outSizes, x.shape).map { Float($0) / Float($1) }
    guard x.rank >= 2, outSizes.prefix(x.rank - 2) == x.shape.prefix(x.rank - 2) else {
        throw Unsupported("it resizes axes other than the last two")
    }
    guard outSizes.allSatisfy({ $0 >= 1 && $0 < 1 << 20 }) else { throw ImportError("output size \(outSizes) is invalid") }

    let mode: Resize.Mode
    switch try c.string("mode") ?? "nearest" {
    case "nearest": mode = .nearest
    case "linear", "bilinear": mode = .linear
    case let other: throw Unsupported("mode '\(other)'")
    }
    if try c.int("antialias") ?? 0 != 0, mode == .linear, outScales.contains(where: { $0 < 1 }) {
        throw Unsupported("antialiased downsampling")
    }
    var coordinates = Resize.CoordinateMode.asymmetric
    var nearest = Resize.NearestMode.legacy
    if !legacy {
        let name = try c.string("coordinate_transformation_mode") ?? "half_pixel"
        guard let parsed = Resize.CoordinateMode(rawValue: name) else { throw Unsupported("coordinate_transformation_mode '\(name)'") }
        coordinates = parsed
        let nearestName = try c.string("nearest_mode") ?? "round_prefer_floor"
        guard let parsedNearest = Resize.NearestMode(rawValue: nearestName), parsedNearest != .legacy else {
            throw ImportError("nearest_mode '\(nearestName)' is not valid")
        }
        nearest = parsedNearest
    }
    let resize = Resize(mode: mode, coordinateMode: coordinates, nearestMode: nearest, scales: outScales, sizes: outSizes)
    return .value(try c.emit(.resize(resize), [try c.value(0)]))
}

private func importTranspose(_ c: NodeContext) throws -> ImportOutcome {
    let rank = try c.type(0).rank
    let perm = try c.ints("perm") ?? Array((0..<rank).reversed())
    if let constant = c.constant(0) { return .constant(try Fold.transpose(constant, perm: perm)) }
    return .value(try c.emit(.transpose(perm: perm), [try c.value(0)]))
}

/// Identity, and Dropout in inference (its mask output must be unused).
private func importIdentity(_ c: NodeContext) throws -> ImportOutcome {
    if c.node.opType == "Dropout" {
        if c.outputUsed(1) { throw Unsupported("its mask output is used") }
        if c.input(2) != nil {
            let training = try c.requireConstant(2, "training_mode")
            if training.ints.contains(where: { $0 != 0 }) { throw Unsupported("training mode") }
        }
    }
    if let constant = c.constant(0) { return .constant(constant) }
    return .value(try c.emit(.identity, [try c.value(0)]))
}

// MARK: final ops

/// Softmax; before opset 13 it normalizes over all axes from `axis` on (default 1),
/// which becomes reshape, softmax over one axis, reshape.
private func importSoftmax(_ c: NodeContext) throws -> ImportOutcome {
    let x = try c.type(0)
    let axis = try c.normalizedAxis(try c.int("axis") ?? (c.opset < 13 ? 1 : -1), rank: x.rank)
    if c.opset >= 13 || axis == x.rank - 1 {
        return .value(try c.emit(.softmax(axis: axis), [try c.value(0)]))
    }
    let flat = try Fold.flattened(x.shape, axis: axis)
    let reshaped = try c.emit(.reshape(shape: flat), [try c.value(0)], name: c.outputName + "/flat")
    let normalized = try c.emit(.softmax(axis: 1), [reshaped], name: c.outputName + "/softmax")
    return .value(try c.emit(.reshape(shape: x.shape), [normalized]))
}

private func importArgMax(_ c: NodeContext) throws -> ImportOutcome {
    let x = try c.type(0)
    let argMax = ArgMax(
        axis: try c.normalizedAxis(try c.int("axis") ?? 0, rank: x.rank), keepDims: try c.int("keepdims") ?? 1 != 0,
        selectLastIndex: try c.int("select_last_index") ?? 0 != 0)
    return .value(try c.emit(.argMax(argMax), [try c.value(0)]))
}

// MARK: constant evaluation

private func importConstant(_ c: NodeContext) throws -> ImportOutcome {
    if let tensor = try c.tensorAttribute("value") { return .constant(tensor) }
    if let value = try c.float("value_float") { return .constant(.scalar(value)) }
    if let values = try c.floats("value_floats") { return .constant(Tensor(shape: [values.count], floats: values)) }
    if let value = try c.int("value_int") { return .constant(Tensor(shape: [], ints: [Int64(value)])) }
    if let values = try c.ints("value_ints") { return .constant(Tensor(shape: [values.count], ints: values.map { Int64($0) })) }
    throw Unsupported("a sparse or string value")
}

private func importConstantOfShape(_ c: NodeContext) throws -> ImportOutcome {
    let shape = try c.requireConstant(0, "shape").ints
    guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }), let count = shape.map({ Int($0) }).checkedProduct, count <= maxFoldedElements else {
        throw ImportError("shape \(shape) is invalid")
    }
    let fill = try c.tensorAttribute("value") ?? .scalar(0)
    guard fill.elementCount == 1 else { throw ImportError("the value attribute must hold one element") }
    let dims = shape.map { Int($0) }
    switch fill.storage {
    case .f32(let values): return .constant(Tensor(shape: dims, floats: Array(repeating: values[0], count: count)))
    case .i64(let values): return .constant(Tensor(shape: dims, ints: Array(repeating: values[0], count: count)))
    }
}

private func importShape(_ c: NodeContext) throws -> ImportOutcome {
    let shape = try c.type(0).shape.map { Int64($0) }
    let rank = shape.count
    func clamp(_ value: Int) -> Int { min(max(value < 0 ? value + rank : value, 0), rank) }
    let start = clamp(try c.int("start") ?? 0)
    let end = max(start, clamp(try c.int("end") ?? rank))
    return .constant(Tensor(shape: [end - start], ints: Array(shape[start..<end])))
}

/// Slice: folded on constants, a `slice` op on values.
private func importSlice(_ c: NodeContext) throws -> ImportOutcome {
    let shape = try c.type(0).shape
    let spec: Fold.SliceSpec
    if c.opset < 10 {
        guard let starts = try c.ints("starts"), let ends = try c.ints("ends") else { throw ImportError("starts or ends are missing") }
        spec = try Fold.sliceSpec(shape, starts: starts.map { Int64($0) }, ends: ends.map { Int64($0) }, axes: try c.ints("axes")?.map { Int64($0) }, steps: nil)
    } else {
        spec = try Fold.sliceSpec(
            shape, starts: try c.requireConstant(1, "starts").ints, ends: try c.requireConstant(2, "ends").ints,
            axes: try c.optionalConstant(3, "axes")?.ints, steps: try c.optionalConstant(4, "steps")?.ints)
    }
    if let data = c.constant(0) { return .constant(try Fold.slice(data, spec)) }
    return .value(try c.emit(.slice(starts: spec.starts, steps: spec.steps, sizes: spec.sizes), [try c.value(0)]))
}

/// Cast: constants convert; a computed float tensor cast to a float type is unchanged.
private func importCast(_ c: NodeContext) throws -> ImportOutcome {
    guard let to = try c.int("to") else { throw ImportError("the 'to' attribute is missing") }
    let toFloat = [1, 10, 11, 16].contains(to)
    if let constant = c.constant(0) {
        if to == 9 { return .constant(Tensor(shape: constant.shape, ints: constant.floats.map { $0 != 0 ? 1 : 0 })) }
        return .constant(toFloat ? constant.asFloat : Tensor(shape: constant.shape, ints: constant.ints))
    }
    guard toFloat else { throw Unsupported("it casts a computed tensor to an integer type") }
    return .value(try c.emit(.identity, [try c.value(0)]))
}

private func importRange(_ c: NodeContext) throws -> ImportOutcome {
    let start = try c.requireConstant(0, "start"), limit = try c.requireConstant(1, "limit"), delta = try c.requireConstant(2, "delta")
    guard start.elementCount == 1, limit.elementCount == 1, delta.elementCount == 1 else { throw ImportError("Range takes scalars") }
    if start.dtype == .i64 && limit.dtype == .i64 && delta.dtype == .i64 {
        let (a, b, d) = (start.ints[0], limit.ints[0], delta.ints[0])
        guard d != 0 else { throw ImportError("Range delta is 0") }
        // In Double: the int64 span may not fit an Int64.
        let count = max(0, Int(((Double(b) - Double(a)) / Double(d)).rounded(.up).clamped(to: -1...Double(1 << 25))))
        guard count <= 1 << 24 else { throw ImportError("Range is too long") }
        return .constant(Tensor(shape: [count], ints: (0..<count).map { a + Int64($0) * d }))
    }
    let (a, b, d) = (start.floats[0], limit.floats[0], delta.floats[0])
    guard d != 0, d.isFinite, a.isFinite, b.isFinite, ((b - a) / d).isFinite else { throw ImportError("Range delta is invalid") }
    let count = max(0, Int(((b - a) / d).rounded(.up).clamped(to: -1...Float(1 << 25))))
    guard count <= 1 << 24 else { throw ImportError("Range is too long") }
    return .constant(Tensor(shape: [count], floats: (0..<count).map { a + Float($0) * d }))
}

private func importWhere(_ c: NodeContext) throws -> ImportOutcome {
    let condition = try c.requireConstant(0, "condition"), x = try c.requireConstant(1, "X"), y = try c.requireConstant(2, "Y")
    let shape = try broadcastShape(try broadcastShape(condition.shape, x.shape), y.shape)
    let flags = try Fold.expand(condition, to: shape).ints
    let left = try Fold.expand(x, to: shape), right = try Fold.expand(y, to: shape)
    if left.dtype == .i64 && right.dtype == .i64 {
        let (a, b) = (left.ints, right.ints)
        return .constant(Tensor(shape: shape, ints: flags.indices.map { flags[$0] != 0 ? a[$0] : b[$0] }))
    }
    let (a, b) = (left.floats, right.floats)
    return .constant(Tensor(shape: shape, floats: flags.indices.map { flags[$0] != 0 ? a[$0] : b[$0] }))
}

/// Neg folds on constants and is a multiplication by -1 on values.
private func importNeg(_ c: NodeContext) throws -> ImportOutcome {
    if let constant = c.constant(0) { return .constant(Fold.unary(constant, float: { -$0 }, int: { 0 &- $0 })) }
    let minusOne = c.addConstant(.scalar(-1), name: c.outputName + "/minus_one")
    return .value(try c.emit(.mul, [try c.value(0), minusOne]))
}

private func foldUnary(_ c: NodeContext, _ float: @escaping (Float) -> Float, int: @escaping (Int64) -> Int64 = { $0 }) throws -> ImportOutcome {
    .constant(Fold.unary(try c.requireConstant(0, "input"), float: float, int: int))
}

private func foldBinary(
    _ c: NodeContext, float: @escaping (Float, Float) -> Float, int: @escaping (Int64, Int64) -> Int64, integerResult: Bool = false
) throws -> ImportOutcome {
    let result = try Fold.binary(try c.requireConstant(0, "first input"), try c.requireConstant(1, "second input"), float: float, int: int)
    return .constant(integerResult ? Tensor(shape: result.shape, ints: result.ints) : result)
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}

extension Tensor {
    /// The same values as f32.
    var asFloat: Tensor { dtype == .f32 ? self : Tensor(shape: shape, floats: floats) }
}
