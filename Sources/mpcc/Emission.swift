import Bytecode
import CommandLineSupport
import Foundation
import IR
import Lowering
import FloatEngine

/// Lowering to bytecode: --emit bytecode (OUT.mpcb + OUT.mpcw), --emit asm, and the
/// cost part of --emit report.
extension MPCC {
    func lower(_ graph: Graph) throws -> (program: Program, weights: WeightFile) {
        do {
            let windows = try approximateWindows(graph)
            var options = Lowering.Options(fracBits: try activationBits(graph), weightBits: fracBits, approxDReLUBits: approxDrelu, droppedBits: windows?.dropped ?? [:])
            options.inputRange = try calibratedInputRange(graph)
            options.exactTruncation = exactTruncation
            return try Lowering.lower(graph, options: options)
        } catch let error as LoweringError {
            throw CommandFailure(.userError, "\(model): \(error.message)")
        }
    }

    /// With --approx-drelu and --calibration: windows from calibration ranges (nil
    /// otherwise: the compiler's default windows).
    func approximateWindows(_ graph: Graph) throws -> ApproximateWindows? {
        guard let bits = approxDrelu, bits < 64, calibration != nil else { return nil }
        do {
            return try ApproximateWindows(graph: graph, calibration: try calibrationInputs(for: graph), bits: bits, fracBits: try activationBits(graph))
        } catch let error as EngineError {
            throw CommandFailure(.userError, "\(model): \(error.message)")
        }
    }

    /// With --calibration, the range clients clamp their input to: the calibration
    /// inputs' range widened by a quarter of its span on each side (real inputs a bit
    /// beyond the calibration set pass unchanged; far-off ones cannot drive the fixed
    /// point out of its headroom).
    func calibratedInputRange(_ graph: Graph) throws -> ClosedRange<Float>? {
        guard calibration != nil else { return nil }
        let values = try calibrationInputs(for: graph).floats
        guard let low = values.min(), let high = values.max() else { return nil }
        let margin = max((high - low) / 4, Float.ulpOfOne)
        return (low - margin)...(high + margin)
    }

    /// Fractional bits of activations: `--frac-bits`; else the lowering's default (20),
    /// lowered where the calibration inputs' largest activation A would leave less than
    /// `headroomBits` of headroom below the truncations' 2^62: A 2^(f + 24) <= 2^(62 - 6).
    func activationBits(_ graph: Graph) throws -> Int {
        if let fracBits { return fracBits }
        let standard = Lowering.Options().fracBits
        guard let largest = try largestCalibratedActivation(graph) else { return standard }
        let magnitude = Int(Double(max(largest, 1)).exponent) + 1  // ceil-ish log2, never low
        return max(1, min(standard, 62 - MPCC.headroomBits - Lowering.maxWeightBits - magnitude))
    }

    /// Bits between the largest calibrated truncation input and 2^62.
    static let headroomBits = 6

    /// The largest magnitude of any value the model computes on (up to 8 rows of) the
    /// calibration inputs, or nil without --calibration.
    func largestCalibratedActivation(_ graph: Graph) throws -> Float? {
        guard calibration != nil else { return nil }
        let inputs = try calibrationInputs(for: graph)
        let rows = min(inputs.shape[0], 8), perRow = inputs.elementCount / max(inputs.shape[0], 1)
        let engine: FloatEngine
        do { engine = try FloatEngine(graph: graph, fuseActivations: false) } catch let error as EngineError { throw CommandFailure(.userError, "\(model): \(error.message)") }
        var largest: Float = 0
        for row in 0..<rows {
            let input = Tensor(shape: [1] + inputs.shape.dropFirst(), floats: Array(inputs.floats[(row * perRow)..<((row + 1) * perRow)]))
            _ = try engine.run([input], inspect: { node, value in
                if case .constant = node.op { return }
                guard value.dtype == .f32 else { return }
                for element in value.floats { largest = max(largest, abs(element)) }
            })
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
            return "  \(name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(String(cost.drelus).leftAligned(9)) DReLUs  \(String(cost.rounds).leftAligned(4)) rounds  "
                + "\(all.client) / \(all.server) / \(all.helper) B"
        }
        for row in costRows(program) { lines.append(line(row.layer, row.cost)) }
        let total = program.totalCost
        lines.append(line("total", total))
        lines.append("  online \(megabytes(total.online.total)), offline \(megabytes(total.offline.total)), once per session \(megabytes(total.session.total))")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The fixed-point scales: activations, each masked (product) weight, the input range.
    func fixedPointText(_ program: Program, largest: Float?) -> String {
        let weights = fixedPointJSON(program)["weight_bits"] as! [(String, Int)]
        var lines = ["fixed point: activations \(program.fracBits) fractional bits; product weights (fractional bits):"]
        if let largest {
            let bits = Int(Double(max(largest, 1)).exponent) + 1 + program.fracBits + Lowering.maxWeightBits
            lines[0] = "fixed point: activations \(program.fracBits) fractional bits (calibrated activations reach \(largest): truncation inputs stay below 2^\(bits), \(62 - bits) bits of headroom); product weights (fractional bits):"
        } else {
            lines[0] = "fixed point: activations \(program.fracBits) fractional bits (headroom not checked: real values up to 2^\(62 - program.fracBits - Lowering.maxWeightBits) fit; give --calibration to check it); product weights (fractional bits):"
        }
        lines += weights.map { "  \($0.0.padding(toLength: 28, withPad: " ", startingAt: 0)) \($0.1)" }
        if let range = program.inputRange {
            lines.append("input clamped to [\(range.lowerBound), \(range.upperBound)] (the calibration inputs' range and a quarter of its span on each side)")
        } else {
            lines.append("input not clamped beyond the encoder's limit (give --calibration to bound it)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `weight_bits` as (name, bits) in program order; the JSON report writes it as a map.
    func fixedPointJSON(_ program: Program) -> [String: Any] {
        var seen = Set<Int>()
        let weights = program.instructions.compactMap { $0.operation.definition.maskedWeight }.filter { seen.insert($0).inserted }
        var json: [String: Any] = ["activation_bits": program.fracBits, "weight_bits": weights.map { (program.weights[$0].name, program.weights[$0].fracBits) }]
        if let range = program.inputRange { json["input_range"] = [range.lowerBound, range.upperBound] }
        return json
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
