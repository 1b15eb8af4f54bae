import Bytecode
import CommandLineSupport
import Foundation
import IR
import Lowering
import SharedKernels
import FloatEngine

/// Lowering to bytecode: --emit bytecode (OUT.mpcb + OUT.mpcw), --emit asm, and the
/// cost part of --emit report.
extension MPCC {
    /// The fixed-point choices that come from the calibration inputs (with
    /// --calibration; else two synthetic Gaussian inputs bound the activations' bits
    /// only), measured once per command: the largest value the model computes, the
    /// activations' bits, the clients' input range and the approximate DReLU windows.
    struct CalibratedFixedPoint {
        var largest: Float
        /// Whether `largest` comes from the calibration inputs (else synthetic ones).
        var calibrated: Bool
        var activationBits: Int
        var inputRange: ClosedRange<Float>?
        var windows: ApproximateWindows?
        /// With --narrow-ring: the calibrated magnitudes that place values in Z_2^32.
        var narrow: Lowering.NarrowRing?
        /// The largest magnitude of each value (by name) on the rows measured.
        var magnitudes: [String: Float] = [:]
        /// How many inputs those rows were.
        var measuredRows = 0
    }

    func lower(_ graph: Graph) throws -> (program: Program, weights: WeightFile) {
        try lower(graph, try calibratedFixedPoint(graph))
    }

    func loweringOptions(_ fixedPoint: CalibratedFixedPoint) -> Lowering.Options {
        var options = Lowering.Options(fracBits: fixedPoint.activationBits, weightBits: fracBits, approxDReLUBits: approxDrelu, droppedBits: fixedPoint.windows?.dropped ?? [:])
        options.inputRange = fixedPoint.inputRange
        options.exactTruncation = exactTruncation
        options.narrowRing = fixedPoint.narrow
        options.comparisonRadix = comparisonRadix
        return options
    }

    func lower(_ graph: Graph, _ fixedPoint: CalibratedFixedPoint) throws -> (program: Program, weights: WeightFile) {
        do {
            return try Lowering.lower(graph, options: loweringOptions(fixedPoint))
        } catch let error as LoweringError {
            throw CommandFailure(.userError, "\(model): \(error.message)")
        }
    }

    func calibratedFixedPoint(_ graph: Graph) throws -> CalibratedFixedPoint {
        let standard = fracBits ?? Lowering.Options().fracBits
        guard calibration != nil else {
            let magnitudes = try largestValues(graph, MPCC.syntheticInputs(graph, rows: 2), rows: 2)
            let largest = magnitudes.values.max() ?? 0
            var fixedPoint = CalibratedFixedPoint(largest: largest, calibrated: false, activationBits: fracBits ?? MPCC.activationBits(standard: standard, largest: largest))
            (fixedPoint.magnitudes, fixedPoint.measuredRows) = (magnitudes, 2)
            return fixedPoint
        }
        let inputs = try calibrationInputs(for: graph)
        let inputRange = MPCC.inputRange(inputs.floats)
        var narrow: Lowering.NarrowRing?
        let largest: Float
        let bits: Int
        let rows = min(inputs.shape[0], narrowRing ? ApproximateWindows.sampleLimit : 8)
        var magnitudes = try largestValues(graph, inputs, rows: rows)
        if narrowRing {
            // Clients' inputs are clamped to the input range: that bounds the input itself.
            magnitudes[graph.name(of: graph.inputs[0])] = inputRange.map { max(abs($0.lowerBound), abs($0.upperBound)) }
            largest = magnitudes.values.max() ?? 0
            let ring = Lowering.NarrowRing(largest: magnitudes)
            narrow = ring
            bits = fracBits ?? Lowering.narrowActivationBits(graph, ring, standard: MPCC.activationBits(standard: standard, largest: largest))
        } else {
            largest = magnitudes.values.max() ?? 0
            bits = fracBits ?? MPCC.activationBits(standard: standard, largest: largest)
        }
        var windows: ApproximateWindows?
        if let approx = approxDrelu, approx < 64 {
            do {
                windows = try ApproximateWindows(graph: graph, calibration: inputs, bits: approx, fracBits: bits)
            } catch let error as EngineError {
                throw CommandFailure(.userError, "\(model): \(error.message)")
            }
        }
        var fixedPoint = CalibratedFixedPoint(largest: largest, calibrated: true, activationBits: bits, inputRange: inputRange, windows: windows, narrow: narrow)
        (fixedPoint.magnitudes, fixedPoint.measuredRows) = (magnitudes, rows)
        return fixedPoint
    }

    /// The range clients clamp their input to: the calibration inputs' range widened by a
    /// quarter of its span on each side (real inputs a bit beyond the calibration set pass
    /// unchanged; far-off ones cannot drive the fixed point out of its headroom).
    static func inputRange(_ values: [Float]) -> ClosedRange<Float>? {
        guard let low = values.min(), let high = values.max() else { return nil }
        let margin = max((high - low) / 4, Float.ulpOfOne)
        return (low - margin)...(high + margin)
    }

    /// The lowering's default activation bits, lowered where the calibration inputs'
    /// largest value A would leave less than `headroomBits` below the truncations' 2^62:
    /// A 2^(f + 24) <= 2^(62 - 6).
    static func activationBits(standard: Int, largest: Float) -> Int {
        let magnitude = Int(Double(max(largest, 1)).exponent) + 1  // ceil-ish log2, never low
        return max(1, min(standard, 62 - headroomBits - Lowering.maxWeightBits - magnitude))
    }

    /// Reproducible synthetic inputs: standard normal from a fixed seed, `rows` batches.
    static func syntheticInputs(_ graph: Graph, rows: Int) -> Tensor {
        let sample = graph.type(of: graph.inputs[0])
        var generator = SplitMix(seed: 0x9E37_79B9_7F4A_7C15)
        let values = (0..<(rows * sample.elementCount)).map { _ in generator.normal() }
        return Tensor(shape: [rows * sample.shape[0]] + sample.shape.dropFirst(), floats: values)
    }

    /// Bits between the largest calibrated truncation input and 2^62.
    static let headroomBits = 6

    /// The largest magnitude each value the model computes reaches (by name) on up to
    /// `rows` rows of the calibration inputs.
    func largestValues(_ graph: Graph, _ inputs: Tensor, rows limit: Int) throws -> [String: Float] {
        let rows = min(inputs.shape[0], limit), perRow = inputs.elementCount / max(inputs.shape[0], 1)
        let largest: [String: Float]
        do {
            let engine = try FloatEngine(graph: graph, fuseActivations: false)
            largest = try engine.largestMagnitudes((0..<rows).map { row in
                Tensor(shape: [1] + inputs.shape.dropFirst(), floats: Array(inputs.floats[(row * perRow)..<((row + 1) * perRow)]))
            })
        } catch let error as EngineError {
            throw CommandFailure(.userError, "\(model): \(error.message)")
        }
        // An overflowing float run has no fixed point to hold it (and would be garbage).
        if let name = graph.nodes.map({ graph.name(of: $0.result) }).first(where: { largest[$0].map { !$0.isFinite } ?? false }), let value = largest[name] {
            let which = calibration == nil ? "synthetic Gaussian inputs (give --calibration with real ones)" : "calibration inputs"
            throw CommandFailure(.userError, "\(model): the network's float values reach \(value) at '\(name)' on the \(which); no fixed point holds them")
        }
        return largest
    }

    /// Writes the program and, beside it, the server's weights.
    func writeBytecode(_ graph: Graph) throws {
        let clock = ContinuousClock()
        let start = clock.now
        let (program, weights) = try lower(graph)
        let programPath = outputPath ?? MPCC.stem(of: model) + ".mpcb"
        let weightsPath = WeightFile.path(forProgram: programPath)
        let programBytes = program.encoded()
        let weightBytes = weights.encoded()
        for (path, bytes) in [(programPath, programBytes), (weightsPath, weightBytes)] {
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                throw CommandFailure(.userError, "cannot write \(path)")
            }
        }
        if program.inputRange == nil {
            printError("mpcc: warning: without --calibration the program does not bound the client's input, so inputs far outside the model's data can exceed the fixed point's headroom")
        }
        let cost = program.totalCost
        print("wrote \(programPath) (\(programBytes.count) bytes, \(program.instructions.count) instructions) and \(weightsPath) (\(weightBytes.count) bytes) in \((clock.now - start).formatted)")
        print("predicted per inference: \(cost.drelus) DReLUs, \(cost.rounds) rounds, \(megabytes(cost.online.total)) online + \(megabytes(cost.offline.total)) offline; \(megabytes(cost.session.total)) once per session")
    }

    /// x for x.onnx and x.ir: the default output is named after the model.
    static func stem(of model: String) -> String {
        for suffix in [".onnx", ".ir"] where model.hasSuffix(suffix) { return String(model.dropLast(suffix.count)) }
        return model
    }

    func megabytes(_ bytes: Int) -> String { "\(Double(bytes / 10_000) / 100) MB" }

    /// Per source layer: DReLUs, bytes per role and rounds of its instructions, in program
    /// order; only layers that communicate.
    func costRows(_ program: Program) -> [(layer: String, cost: Cost)] {
        var rows: [(layer: String, cost: Cost)] = []
        var index: [String: Int] = [:]
        for instruction in program.instructions where instruction.cost.perInferenceBytes + instruction.cost.session.total > 0 {
            if let row = index[instruction.source] {
                rows[row].cost = rows[row].cost + instruction.cost
            } else {
                index[instruction.source] = rows.count
                rows.append((instruction.source, instruction.cost))
            }
        }
        return rows
    }

    func costText(_ program: Program) -> String {
        var lines = ["secure cost per inference (predicted; bytes sent by client / server / helper):"]
        func line(_ name: String, _ cost: Cost) -> String {
            let all = cost.online + cost.offline
            // Instructions that share rounds name their layers joined by " + " (JSON has them all).
            let layers = name.components(separatedBy: " + ")
            let shown = layers.count > 1 ? "(\(layers.count) merged) \(layers[0])" : name
            return "  \(shown.padding(toLength: 28, withPad: " ", startingAt: 0)) \(String(cost.drelus).leftAligned(9)) DReLUs  \(String(cost.rounds).leftAligned(4)) rounds  "
                + "\(all.client) / \(all.server) / \(all.helper) B"
        }
        for row in costRows(program) { lines.append(line(row.layer, row.cost)) }
        let total = program.totalCost
        lines.append(line("total", total))
        lines.append("  online \(megabytes(total.online.total)), offline \(megabytes(total.offline.total)), once per session \(megabytes(total.session.total))")
        lines += Disassembler.received(program).map { "  " + $0 }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The fixed-point scales: activations, each masked (product) weight, the input range.
    func fixedPointText(_ program: Program, _ fixedPoint: CalibratedFixedPoint) -> String {
        let bits = Int(Double(max(fixedPoint.largest, 1)).exponent) + 1 + program.fracBits + Lowering.maxWeightBits
        let source = fixedPoint.calibrated ? "calibrated activations" : "activations on two synthetic Gaussian inputs (give --calibration for real ones)"
        var lines = ["fixed point: activations \(program.fracBits) fractional bits (\(source) reach \(fixedPoint.largest): truncation inputs stay below 2^\(bits), \(62 - bits) bits of headroom); product weights (fractional bits):"]
        lines += productWeightBits(program).map { "  \($0.name.padding(toLength: 28, withPad: " ", startingAt: 0)) \($0.bits)" }
        if let range = program.inputRange {
            lines.append("input clamped to [\(range.lowerBound), \(range.upperBound)] (the calibration inputs' range and a quarter of its span on each side)")
        } else {
            lines.append("input not clamped beyond the encoder's limit (give --calibration to bound it)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Each layer's ring and headroom (with --narrow-ring; else every layer is in Z_2^64).
    func ringText(_ rings: [Lowering.LayerRing]?) -> String {
        guard let rings else { return "rings: every layer in Z_2^64 (--narrow-ring with --calibration places layers in Z_2^32 where they fit)\n" }
        let narrow = rings.filter { $0.ring == .z32 }.count
        var lines = ["rings: \(narrow) of \(rings.count) layers in Z_2^32 (headroom: bits between the largest calibrated value and the ring's truncation range 2^(bits-2); Z_2^32 needs \(Lowering.narrowHeadroomBits)):"]
        for layer in rings {
            let headroom = layer.headroomBits.map { "headroom \($0) bits" } ?? "not calibrated"
            lines.append("  \(layer.name.padding(toLength: 28, withPad: " ", startingAt: 0)) Z_2^\(layer.ring.bits)  \(headroom)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func ringJSON(_ rings: [Lowering.LayerRing]?) -> [[String: Any]] {
        (rings ?? []).map { layer in
            var entry: [String: Any] = ["name": layer.name, "ring_bits": layer.ring.bits]
            if let headroom = layer.headroomBits { entry["headroom_bits"] = headroom }
            return entry
        }
    }

    func fixedPointJSON(_ program: Program) -> [String: Any] {
        var json: [String: Any] = ["activation_bits": program.fracBits]
        json["weight_bits"] = Dictionary(productWeightBits(program).map { ($0.name, $0.bits) }, uniquingKeysWith: { first, _ in first })
        if let range = program.inputRange { json["input_range"] = [range.lowerBound, range.upperBound] }
        return json
    }

    /// The masked (product) weights' fractional bits, in program order.
    func productWeightBits(_ program: Program) -> [(name: String, bits: Int)] {
        var seen = Set<Int>()
        return program.instructions.compactMap { $0.operation.definition.maskedWeight }.filter { seen.insert($0).inserted }
            .map { (program.weights[$0].name, program.weights[$0].fracBits) }
    }

    func costJSON(_ program: Program) -> [String: Any] {
        func json(_ cost: Cost) -> [String: Any] {
            func roles(_ bytes: RoleBytes) -> [String: Int] { ["client": bytes.client, "server": bytes.server, "helper": bytes.helper] }
            return ["drelus": cost.drelus, "rounds": cost.rounds, "online_bytes": roles(cost.online), "offline_bytes": roles(cost.offline), "session_bytes": roles(cost.session)]
        }
        var result = json(program.totalCost)
        result["layers"] = costRows(program).map { row -> [String: Any] in
            var entry = json(row.cost)
            entry["name"] = row.layer
            return entry
        }
        return result
    }
}

extension String {
    func leftAligned(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
