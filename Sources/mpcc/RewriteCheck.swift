import CommandLineSupport
import FloatEngine
import IR
import NPY
import Passes
import Planner

/// Accuracy-changing rewrites made visible: for each one in the pipeline that changed
/// the model, how often the rewritten network's top class (per position of the output's
/// axis 1) agrees with the original network's on the calibration inputs, and the
/// accuracy of both with --labels; a warning below `agreementFloor`. Without
/// --calibration, a note that the function changed and how to keep it. mpcc prints
/// these after a command succeeds.
extension MPCC {
    static let agreementFloor = 0.9

    /// One line per accuracy-changing rewrite that changed the model.
    func functionChanges(_ imported: Graph, passes: [any Pass.Type]) throws -> [String] {
        guard passes.contains(where: { $0.changesFunction }) else { return [] }
        var reference = imported
        try PassManager(passes: passes.filter { !$0.changesFunction }).run(&reference)
        var lines: [String] = []
        for pass in passes where pass.changesFunction {
            var rewritten = reference
            guard try pass.init().run(on: &rewritten) else { continue }
            try Verifier.verify(rewritten)
            let keep = MPCC.keepFlag(pass)
            guard calibration != nil else {
                lines.append("mpcc: note: \(pass.name) changes the network's function (\(keep) keeps the original); give --calibration to measure by how much")
                continue
            }
            lines.append(try functionChange(pass, reference, rewritten, keep: keep))
        }
        return lines
    }

    /// One line on how far `rewritten` moved from `reference` on the calibration inputs.
    private func functionChange(_ pass: any Pass.Type, _ reference: Graph, _ rewritten: Graph, keep: String) throws -> String {
        let all = try calibrationInputs(for: reference)
        // Two whole-network runs per rewrite: up to 64 rows, fewer for large models.
        let rows = Int(max(8, min(64, 1e11 / max(2 * reference.suffixMACs(from: reference.inputs[0]), 1))))
        let count = min(all.shape[0], rows), perRow = all.elementCount / max(all.shape[0], 1)
        let inputs = Tensor(shape: [count] + all.shape.dropFirst(), floats: Array(all.floats.prefix(count * perRow)))
        let original = try classes(reference, inputs), changed = try classes(rewritten, inputs)
        let agreeing = zip(original, changed).filter { $0 == $1 }.count
        let share = Double(agreeing) / Double(max(original.count, 1))
        let scope = original.count == count ? "\(count) calibration inputs" : "\(original.count) positions of \(count) calibration inputs"
        var line = "\(pass.name) changes the network's function: its top class agrees with the original's on \(agreeing) of \(scope) (\(rounded(100 * share))%)"
        if let truth = try calibrationLabels(count: count), original.count == count {
            func accuracy(_ predicted: [Int]) -> Double { Double(zip(predicted, truth).filter { $0 == $1 }.count) / Double(count) }
            line += "; accuracy on them \(rounded(accuracy(original))) -> \(rounded(accuracy(changed)))"
        }
        guard share < MPCC.agreementFloor else { return "mpcc: " + line }
        return "mpcc: warning: " + line + "; below \(Int(100 * MPCC.agreementFloor))%: fine-tune the rewritten network (the paper does) or keep the original with \(keep)"
    }

    /// The argmax over axis 1 of the first output (of the scores, for a model that
    /// declares labels), per input and position.
    private func classes(_ graph: Graph, _ inputs: Tensor) throws -> [Int] {
        let output: Tensor
        do { output = try FloatEngine(graph: graph.scoresBeforeArgMax()).runBatch(inputs)[0] } catch let error as EngineError { throw CommandFailure(.userError, "\(model): \(error.message)") }
        guard output.shape.count >= 2, output.shape[1] > 0 else { return [] }
        let (n, k) = (output.shape[0], output.shape[1])
        let positions = output.elementCount / max(n * k, 1)
        let values = output.floats
        var result: [Int] = []
        for sample in 0..<n {
            for position in 0..<positions {
                let base = sample * k * positions + position
                result.append((0..<k).max { values[base + $0 * positions] < values[base + $1 * positions] }!)
            }
        }
        return result
    }

    /// The first `count` of --labels, when given as one class per calibration input.
    private func calibrationLabels(count: Int) throws -> [Int]? {
        guard let labels, infer == nil else { return nil }
        guard case .int64(let classes) = try NPYArray.read(path: labels).data, classes.count >= count else { return nil }
        return classes.prefix(count).map { Int($0) }
    }

    static func keepFlag(_ pass: any Pass.Type) -> String {
        pass == ReLU6ToReLU.self ? "--keep-relu6" : pass == MaxPoolToAvgPool.self ? "--keep-maxpool" : "--passes without \(pass.name)"
    }
}
