import FloatEngine
import Foundation
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
        /// distortion[channel][candidate]; infinite where a candidate was not measured
        /// (fast measures a shortlist), which keeps it out of the knapsack.
        public var distortion: [[Double]]
    }

    public var layers: [Layer]
    /// Forward passes of the network suffix it took (for reports).
    public var suffixRuns: Int = 0
    /// How it was measured (for a table read from a file, what the file says).
    public var method: DistortionMethod?

    /// The knapsack instance: one group per channel, one option per measured candidate,
    /// and for each group the candidate index of each option.
    public func knapsackGroups() -> (groups: [[KnapsackOption]], candidates: [[Int]]) {
        var groups: [[KnapsackOption]] = [], candidates: [[Int]] = []
        for layer in layers {
            for row in layer.distortion {
                let measured = row.indices.filter { row[$0].isFinite }
                groups.append(measured.map { KnapsackOption(cost: layer.costs[$0], distortion: row[$0]) })
                candidates.append(measured)
            }
        }
        return (groups, candidates)
    }

    /// Block sizes from one chosen option index per group (in `knapsackGroups` order).
    public func blocks(for choices: [Int]) -> [String: [BlockSize]] {
        let candidates = knapsackGroups().candidates
        var result: [String: [BlockSize]] = [:]
        var group = 0
        for layer in layers {
            result[layer.layer.name] = (0..<layer.layer.channels).map { _ in
                defer { group += 1 }
                return layer.candidates[candidates[group][choices[group]]]
            }
        }
        return result
    }
}

extension DistortionTable {
    private struct File: Codable {
        struct Layer: Codable {
            var name: String
            var channels: Int
            var height: Int
            var width: Int
            var candidates: [[Int]]
            /// -1 marks a candidate that was not measured.
            var distortion: [[Double]]
        }
        var format: String
        var method: String
        var layers: [Layer]
    }

    /// The table as JSON, to plan other budgets later without measuring again.
    public func json(method: DistortionMethod) throws -> Data {
        let file = File(format: "mpcc-distortion-table", method: method.rawValue, layers: layers.map { entry in
            File.Layer(
                name: entry.layer.name, channels: entry.layer.channels, height: entry.layer.height, width: entry.layer.width,
                candidates: entry.candidates.map { [$0.height, $0.width] },
                distortion: entry.distortion.map { $0.map { $0.isFinite ? $0 : -1 } })
        })
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // the same table gives the same bytes
        return try encoder.encode(file)
    }

    /// Reads a table written by `json(method:)` for this graph; fails when the layers,
    /// channels or map sizes differ.
    public static func read(path: String, for graph: Graph) throws -> DistortionTable {
        guard let data = FileManager.default.contents(atPath: path) else { throw PlanError("cannot read \(path)") }
        guard let file = try? JSONDecoder().decode(File.self, from: data), file.format == "mpcc-distortion-table" else {
            throw PlanError("\(path) is not a distortion table written by mpcc --save-distortion")
        }
        let layers = ReLULayer.all(in: graph)
        guard layers.count == file.layers.count else {
            throw PlanError("\(path) has \(file.layers.count) ReLU layers, this model has \(layers.count)")
        }
        var table = DistortionTable(layers: [])
        table.method = DistortionMethod(rawValue: file.method)
        for (layer, entry) in zip(layers, file.layers) {
            guard layer.name == entry.name, layer.channels == entry.channels, layer.height == entry.height, layer.width == entry.width,
                entry.distortion.count == entry.channels, entry.candidates.allSatisfy({ $0.count == 2 }),
                entry.distortion.allSatisfy({ $0.count == entry.candidates.count && $0.allSatisfy { $0.isFinite && ($0 >= 0 || $0 == -1) } })
            else { throw PlanError("\(path) does not match layer '\(layer.name)' of this model") }
            let candidates = entry.candidates.map { BlockSize($0[0], $0[1]) }
            table.layers.append(Layer(
                layer: layer, candidates: candidates, costs: candidates.map { $0.drelus(height: layer.height, width: layer.width) },
                distortion: entry.distortion.map { $0.map { $0 == -1 ? .infinity : $0 } }))
        }
        return table
    }
}

/// Block ReLU with `block` applied to channel `channel` of the pre-activation `x`
/// ([N, C, H, W]): the planes of that channel, sample after sample ([N * H * W]).
func blockPlanes(_ x: [Float], shape: [Int], channel: Int, block: BlockSize) -> [Float] {
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    let plane = h * w
    var out = [Float](repeating: 0, count: n * plane)
    guard plane > 0 else { return out }
    x.withUnsafeBufferPointer { source in
        out.withUnsafeMutableBufferPointer { target in
            for sample in 0..<n {
                let input = source.baseAddress! + (sample * c + channel) * plane
                block.maskPlane(deciding: input, source: input, into: target.baseAddress! + sample * plane, height: h, width: w)
            }
        }
    }
    return out
}

/// `y` with channel `channel` replaced by `planes` (as `blockPlanes` lays them out).
func replacingChannel(_ y: Tensor, channel: Int, with planes: [Float]) -> Tensor {
    let (n, c) = (y.shape[0], y.shape[1])
    let plane = y.elementCount / max(n * c, 1)
    var values = y.floats
    for sample in 0..<n {
        for index in 0..<plane { values[(sample * c + channel) * plane + index] = planes[sample * plane + index] }
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
