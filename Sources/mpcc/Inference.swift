import ArgumentParser
import CommandLineSupport
import FloatEngine
import Foundation
import IR
import NPY
import ONNXFrontend
import Passes
import Planner

/// --infer: the float engine on the compiled graph.
extension MPCC {
    /// --infer: the float engine on the compiled graph, one inference per input row.
    func runInference(_ graph: inout Graph, inputPath: String) throws {
        let input: NPYArray
        let labelArray: NPYArray?
        do {
            input = try NPYArray.read(path: inputPath)
            labelArray = try labels.map { try NPYArray.read(path: $0) }
        } catch let error as NPYError {
            throw CommandFailure(.userError, error.message)
        }
        guard case .float32(let values) = input.data else {
            throw CommandFailure(.userError, "\(inputPath) holds int64 values; inputs must be float32")
        }
        guard values.allSatisfy({ $0.isFinite }) else {
            throw CommandFailure(.userError, "\(inputPath) holds NaN or infinite values; inputs must be finite")
        }
        let engine = try FloatEngine(graph: graph)
        let outputs: [Tensor]
        let clock = ContinuousClock()
        let start = clock.now
        do {
            outputs = try engine.runBatch(Tensor(shape: input.shape, floats: values))
        } catch let error as EngineError {
            throw CommandFailure(.userError, "\(inputPath): \(error.message)")
        }
        let elapsed = clock.now - start
        let output = outputs[0]
        let count = max(input.shape.first ?? 1, 1) / max(graph.type(of: graph.inputs[0]).shape.first ?? 1, 1)
        if let path = outputPath {
            let array: NPYArray
            switch output.storage {
            case .f32(let data): array = NPYArray(shape: output.shape, float32: data)
            case .i64(let data): array = NPYArray(shape: output.shape, int64: data)
            }
            do { try array.write(path: path) } catch let error as NPYError { throw CommandFailure(.userError, error.message) }
        }
        let perInput = (elapsed / max(count, 1)).formatted
        print("float inference: \(count) input\(count == 1 ? "" : "s"), \(perInput) per input, output \(output.type)")
        try printPredictions(output, count: count, labels: labelArray)
    }

    func top1(_ output: Tensor, _ labels: [Int64]) -> Double { top1Accuracy(output.floats, labels) }

    /// Top-5 classes of a classifier's output, or its accuracy against labels.
    func printPredictions(_ output: Tensor, count: Int, labels: NPYArray?) throws {
        let isClassifier = output.dtype == .f32 && output.shape.count == 2
        if let labels {
            guard case .int64(let truth) = labels.data, truth.count == count else {
                throw CommandFailure(.userError, "--labels must hold \(count) int64 class indices")
            }
            guard isClassifier else { throw CommandFailure(.userError, "--labels needs a classifier output [N, classes], got \(output.type)") }
            let accuracy = top1(output, truth)
            print("accuracy: \(Int((accuracy * Double(count)).rounded()))/\(count) = \(accuracy)")
            return
        }
        guard isClassifier else { return }
        for line in topClassLines(output.floats, rows: count) { print(line) }
    }
}
