import Foundation
import IR

/// A block-size plan: for each ReLU layer (keyed by the ONNX name of its output tensor)
/// one block size per channel. Serialized as the `mpcc-block-plan` JSON (README.md, File formats); readers
/// need only `layers`, and a ReLU missing from it stays an ordinary ReLU.
public struct BlockPlan: Sendable, Equatable {
    public var layers: [String: [BlockSize]]
    /// DReLUs of every planned ReLU layer at 1x1 (per inference), and under this plan.
    public var modelDReLUs: Int
    public var planDReLUs: Int
    /// Extra facts kept in the file (budget, solver, distortion); free-form.
    public var notes: [String: String]

    public init(layers: [String: [BlockSize]], modelDReLUs: Int = 0, planDReLUs: Int = 0, notes: [String: String] = [:]) {
        self.layers = layers
        self.modelDReLUs = modelDReLUs
        self.planDReLUs = planDReLUs
        self.notes = notes
    }

    private struct File: Codable {
        var format: String?
        var version: Int?
        var model_drelus: Int?
        var plan_drelus: Int?
        var layers: [String: [[Int]]]
        var notes: [String: String]?
    }

    /// The plan as JSON (keys sorted, so files are stable).
    public func json() throws -> String {
        let file = File(
            format: "mpcc-block-plan", version: 1, model_drelus: modelDReLUs, plan_drelus: planDReLUs,
            layers: layers.mapValues { $0.map { [$0.height, $0.width] } }, notes: notes.isEmpty ? nil : notes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var text = String(decoding: try encoder.encode(file), as: UTF8.self)
        // One layer per line keeps the file readable and diffable.
        text = text.replacingOccurrences(of: "],\"", with: "],\n  \"")
        return text + "\n"
    }

    public static func parse(_ data: Data, source: String = "the plan") throws -> BlockPlan {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw PlanError("\(source) is not a block-size plan (JSON with a \"layers\" object of [height, width] pairs)")
        }
        if let format = file.format, format != "mpcc-block-plan" { throw PlanError("\(source) has format '\(format)', expected mpcc-block-plan") }
        if let version = file.version, version != 1 { throw PlanError("\(source) has version \(version); this mpcc reads version 1") }
        var layers: [String: [BlockSize]] = [:]
        for (name, pairs) in file.layers {
            layers[name] = try pairs.map { pair in
                guard pair.count == 2 else { throw PlanError("\(source): layer '\(name)' has an entry \(pair) that is not [height, width]") }
                let block = BlockSize(pair[0], pair[1])
                guard block.isPatch || block.isIdentity || block.isZero, pair[0] < 1 << 20, pair[1] < 1 << 20 else {
                    throw PlanError("\(source): layer '\(name)' has an invalid block size \(pair)")
                }
                return block
            }
        }
        return BlockPlan(layers: layers, modelDReLUs: file.model_drelus ?? 0, planDReLUs: file.plan_drelus ?? 0, notes: file.notes ?? [:])
    }

    public static func read(path: String) throws -> BlockPlan {
        guard let data = FileManager.default.contents(atPath: path) else { throw PlanError("cannot read \(path)") }
        return try parse(data, source: path)
    }

    /// Replaces each planned ReLU by a block ReLU with its channels' block sizes. Fails,
    /// naming the layer, when the plan does not fit the model.
    public func apply(to graph: inout Graph) throws {
        let reluLayers = ReLULayer.all(in: graph)
        let byName = Dictionary(uniqueKeysWithValues: reluLayers.map { ($0.name, $0) })
        for (name, blocks) in layers.sorted(by: { $0.key < $1.key }) {
            guard let layer = byName[name] else {
                let known = reluLayers.prefix(5).map(\.name).joined(separator: ", ")
                throw PlanError("the plan names layer '\(name)', which is not a ReLU output of this model (its ReLU layers: \(known)\(reluLayers.count > 5 ? ", ..." : ""))")
            }
            guard blocks.count == layer.channels else {
                throw PlanError("the plan gives \(blocks.count) block sizes for layer '\(name)', which has \(layer.channels) channels")
            }
            graph.nodes[layer.node].op = .blockReLU(BlockReLUPlan(blocks: blocks))
        }
        try Verifier.verify(graph)
    }

    /// The block sizes a graph currently has: block ReLUs as planned, plain ReLUs as 1x1.
    public static func of(_ graph: Graph) -> BlockPlan {
        var layers: [String: [BlockSize]] = [:]
        for layer in ReLULayer.all(in: graph) {
            if case .blockReLU(let plan) = graph.nodes[layer.node].op {
                layers[layer.name] = plan.blocks
            } else {
                layers[layer.name] = Array(repeating: .relu, count: layer.channels)
            }
        }
        let total = ReLULayer.all(in: graph).reduce(0) { $0 + $1.drelus }
        return BlockPlan(layers: layers, modelDReLUs: total, planDReLUs: drelus(layers, in: graph))
    }

    /// DReLUs per inference of `blocks` on the layers of `graph`.
    public static func drelus(_ layers: [String: [BlockSize]], in graph: Graph) -> Int {
        ReLULayer.all(in: graph).reduce(0) { total, layer in
            let blocks = layers[layer.name] ?? Array(repeating: .relu, count: layer.channels)
            return total + blocks.reduce(0) { $0 + $1.drelus(height: layer.height, width: layer.width) }
        }
    }
}

/// A ReLU layer the planner can replace: a `relu` (or an already planned `block_relu`)
/// on an [N, C, H, W] tensor.
public struct ReLULayer: Sendable {
    public var name: String
    public var node: Int
    public var input: ValueID
    public var output: ValueID
    public var channels: Int
    public var height: Int
    public var width: Int

    /// DReLUs of the layer as an ordinary ReLU, per inference.
    public var drelus: Int { channels * height * width }

    public static func all(in graph: Graph) -> [ReLULayer] {
        graph.nodes.enumerated().compactMap { index, node in
            // The layers block ReLUs may replace: ReLUs, and block ReLUs being planned again.
            switch node.op.kind {
            case .relu, .blockReLU: break
            case .constant, .conv, .dense, .batchNorm, .relu6, .clip, .maxPool, .avgPool, .globalAvgPool, .add, .sub, .mul, .div, .reshape,
                .transpose, .slice, .concat, .pad, .resize, .identity, .softmax, .argMax:
                return nil
            }
            let type = graph.type(of: node.operands[0])
            guard type.rank == 4 else { return nil }
            return ReLULayer(
                name: graph.name(of: node.result), node: index, input: node.operands[0], output: node.result, channels: type.shape[1],
                height: type.shape[2], width: type.shape[3])
        }
    }
}

public struct PlanError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
