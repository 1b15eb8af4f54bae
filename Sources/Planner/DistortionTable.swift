import IR

/// For every planned ReLU layer, channel and candidate block size: the distortion of the
/// network output (mean squared change over the calibration samples when only that
/// channel uses that block size) and the DReLU cost.
public struct DistortionTable: Sendable {
    public struct Layer: Sendable {
        public var layer: ReLULayer
        public var candidates: [BlockSize]
        /// DReLUs per channel for each candidate.
        public var costs: [Int]
        /// distortion[channel][candidate]
        public var distortion: [[Double]]
    }

    public var layers: [Layer]
    /// Forward passes of the network suffix it took (for reports).
    public var suffixRuns: Int = 0

    /// The knapsack instance: one group per channel, one option per candidate.
    public func knapsackGroups() -> [[KnapsackOption]] {
        layers.flatMap { layer in
            layer.distortion.map { row in zip(layer.costs, row).map { KnapsackOption(cost: $0, distortion: $1) } }
        }
    }

    /// Block sizes from one chosen option index per group (in `knapsackGroups` order).
    public func blocks(for choices: [Int]) -> [String: [BlockSize]] {
        var result: [String: [BlockSize]] = [:]
        var group = 0
        for layer in layers {
            result[layer.layer.name] = (0..<layer.layer.channels).map { _ in
                defer { group += 1 }
                return layer.candidates[choices[group]]
            }
        }
        return result
    }
}

/// Replaces channel `channel` of an [N, C, H, W] activation `y` by `blocks` applied to the
/// same channel of the pre-activation `x`.
func replacingChannel(_ y: Tensor, _ x: Tensor, channel: Int, block: BlockSize) -> Tensor {
    let (n, c, h, w) = (y.shape[0], y.shape[1], y.shape[2], y.shape[3])
    var values = y.floats
    let source = x.floats
    let plane = h * w
    for sample in 0..<n {
        let base = (sample * c + channel) * plane
        if block.isIdentity {
            for index in 0..<plane { values[base + index] = source[base + index] }
            continue
        }
        if block.isZero {
            for index in 0..<plane { values[base + index] = 0 }
            continue
        }
        for top in stride(from: 0, to: h, by: block.height) {
            for left in stride(from: 0, to: w, by: block.width) {
                let bottom = min(top + block.height, h), right = min(left + block.width, w)
                var sum: Float = 0
                for row in top..<bottom { for column in left..<right { sum += source[base + row * w + column] } }
                for row in top..<bottom {
                    for column in left..<right { values[base + row * w + column] = sum > 0 ? source[base + row * w + column] : 0 }
                }
            }
        }
    }
    return Tensor(shape: y.shape, floats: values)
}

/// Sum over samples of the mean squared difference per sample between two outputs.
func squaredError(_ a: Tensor, _ b: Tensor, samples: Int) -> Double {
    let perSample = max(a.elementCount / max(samples, 1), 1)
    var total = 0.0
    for (x, y) in zip(a.floats, b.floats) {
        let d = Double(x) - Double(y)
        total += d * d
    }
    return total / Double(perSample)
}
