import IR

/// Where the first-order stage linearizes a layer: its output, or the result of the
/// pooling ops that are its only consumers (applied exactly to one channel's plane).
struct Frontier {
    var value: ValueID
    /// Pooling ops from the layer output to `value`, each as its windows: for output i, input
    /// indices offsets[starts[i]..<starts[i + 1]], and the average's divisor.
    var pools: [(max: Bool, offsets: [Int], starts: [Int], divisors: [Float])] = []
    /// Elements per channel plane of `value`.
    var plane: Int

    mutating func append(_ pool: Pool2D, max isMax: Bool, h: Int, w: Int, oh: Int, ow: Int) {
        var offsets: [Int] = [], starts = [0], divisors: [Float] = []
        for oy in 0..<oh {
            for ox in 0..<ow {
                // The engine's rule, on a plane of indices.
                let y0 = oy * pool.strides[0] - pool.pads[0], x0 = ox * pool.strides[1] - pool.pads[1]
                var paddedRows = 0, paddedColumns = 0
                for ky in 0..<pool.kernel[0] {
                    let y = y0 + ky * pool.dilations[0]
                    if y < h + pool.pads[2] { paddedRows = ky + 1 }
                    guard y >= 0 && y < h else { continue }
                    for kx in 0..<pool.kernel[1] {
                        let x = x0 + kx * pool.dilations[1]
                        if x >= 0 && x < w { offsets.append(y * w + x) }
                    }
                }
                for kx in 0..<pool.kernel[1] where x0 + kx * pool.dilations[1] < w + pool.pads[3] { paddedColumns = kx + 1 }
                let valid = offsets.count - starts.last!
                starts.append(offsets.count)
                divisors.append(Float(Swift.max(pool.countIncludePad ? paddedRows * paddedColumns : valid, 1)))
            }
        }
        pools.append((isMax, offsets, starts, divisors))
        plane = oh * ow
    }

    /// Runs the pools on one plane: `data` in, the result in `data` (`scratch` is reused).
    func apply(_ data: inout [Float], _ scratch: inout [Float]) {
        for step in pools {
            let count = step.divisors.count
            if scratch.count < Swift.max(count, data.count) { scratch = [Float](repeating: 0, count: Swift.max(count, data.count)) }
            for index in 0..<count {
                let range = step.starts[index]..<step.starts[index + 1]
                if step.max {
                    var best = -Float.infinity
                    for position in range { best = Swift.max(best, data[step.offsets[position]]) }
                    scratch[index] = best
                } else {
                    var sum: Float = 0
                    for position in range { sum += data[step.offsets[position]] }
                    scratch[index] = sum / step.divisors[index]
                }
            }
            swap(&data, &scratch)
        }
    }
}

/// Max or average pooling of one plane, with the engine's window and divisor rules.
func poolPlane(_ input: [Float], _ pool: Pool2D, max isMax: Bool, h: Int, w: Int, oh: Int, ow: Int) -> [Float] {
    var frontier = Frontier(value: ValueID(0), plane: h * w)
    frontier.append(pool, max: isMax, h: h, w: w, oh: oh, ow: ow)
    var data = input, scratch: [Float] = []
    frontier.apply(&data, &scratch)
    return Array(data.prefix(oh * ow))
}

extension DistortionMeasurement {
    func frontier(of layer: ReLULayer, firstOrder: Bool) -> Frontier {
        var result = Frontier(value: layer.output, plane: layer.height * layer.width)
        guard firstOrder else { return result }
        while true {
            let consumers = graph.nodes.filter { $0.operands.contains(result.value) }
            guard consumers.count == 1, !graph.outputs.contains(result.value), let node = consumers.first else { return result }
            let pool: Pool2D, isMax: Bool
            switch node.op {
            case .maxPool(let p): (pool, isMax) = (p, true)
            case .avgPool(let p): (pool, isMax) = (p, false)
            case .constant, .conv, .dense, .batchNorm, .relu, .relu6, .clip, .blockReLU, .globalAvgPool, .add, .sub, .mul, .div, .reshape,
                .transpose, .slice, .concat, .pad, .resize, .identity, .softmax, .argMax:
                return result
            }
            let input = graph.type(of: result.value).shape, output = graph.type(of: node.result).shape
            guard input.count == 4, output.count == 4 else { return result }
            result.append(pool, max: isMax, h: input[2], w: input[3], oh: output[2], ow: output[3])
            result.value = node.result
        }
    }
}
