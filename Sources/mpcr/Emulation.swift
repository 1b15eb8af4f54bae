import Bytecode
import CommandLineSupport
import Foundation
import MPCRuntime
import NPY

/// Reading programs and inputs for the subcommands, with user-facing errors.
enum RunInputs {
    static func program(_ path: String) throws -> Program {
        do { return try ProgramFiles.readProgram(path: path) } catch let error as BytecodeError { throw CommandFailure(.userError, error.message) }
    }

    static func weights(_ path: String?, programPath: String, for program: Program) throws -> WeightFile {
        do {
            return try ProgramFiles.readWeights(path: path, programPath: programPath, for: program)
        } catch let error as BytecodeError {
            throw CommandFailure(.userError, error.message)
        }
    }

    /// The input array split into inferences of the program's input shape.
    /// The inference rows of an input array; warns (unless `quiet`) when values lie
    /// outside the program's input range, which the client clamps them to.
    static func inferences(_ path: String, for program: Program, quiet: Bool = false) throws -> (rows: [[Float]], count: Int) {
        let array: NPYArray
        do { array = try NPYArray.read(path: path) } catch let error as NPYError { throw CommandFailure(.userError, error.message) }
        guard case .float32(let values) = array.data else { throw CommandFailure(.userError, "\(path) holds int64 values; inputs must be float32") }
        guard values.allSatisfy({ $0.isFinite }) else { throw CommandFailure(.userError, "\(path) holds NaN or infinite values; inputs must be finite") }
        let inputShape = program.instructions.first { $0.opcode == .input }!.shape
        let perInference = inputShape.reduce(1, *)
        let batch = inputShape.first ?? 1
        guard array.shape.count == inputShape.count, Array(array.shape.dropFirst()) == Array(inputShape.dropFirst()),
              let first = array.shape.first, first > 0, first % max(batch, 1) == 0
        else {
            throw CommandFailure(.userError, "\(path) has shape \(array.shape); the program takes inputs of shape \(inputShape) (N x \(inputShape.dropFirst().map(String.init).joined(separator: " x ")))")
        }
        let count = values.count / max(perInference, 1)
        let outside = FixedPoint.clamped(values, to: program.inputRange).outside
        if let range = program.inputRange, outside > 0, !quiet {
            printError("mpcr: warning: \(outside) of \(values.count) input values lie outside the calibrated range [\(range.lowerBound), \(range.upperBound)] and are clamped to it")
        }
        return ((0..<count).map { Array(values[($0 * perInference)..<(($0 + 1) * perInference)]) }, count)
    }

    /// Writes the first output of every inference, stacked, and prints top classes (or
    /// the accuracy against labels).
    static func report(outputs: [[[Float]]], program: Program, to path: String?, labels: String? = nil) throws {
        let outputShape = program.instructions[program.outputs[0]].shape
        let rows = outputs.count
        let stacked = outputs.flatMap { $0[0] }
        let shape = [rows * (outputShape.first ?? 1)] + outputShape.dropFirst()
        if let path {
            do { try NPYArray(shape: shape, float32: stacked).write(path: path) } catch let error as NPYError { throw CommandFailure(.userError, error.message) }
        }
        let isClassifier = outputShape.count == 2 && outputShape[0] == 1
        if let labels {
            let truth: NPYArray
            do { truth = try NPYArray.read(path: labels) } catch let error as NPYError { throw CommandFailure(.userError, error.message) }
            guard case .int64(let classes) = truth.data, classes.count == rows, isClassifier else {
                throw CommandFailure(.userError, "\(labels) must hold one int64 class per input of a classifier")
            }
            let accuracy = top1Accuracy(stacked, classes)
            print("accuracy: \(Int((accuracy * Double(rows)).rounded()))/\(rows) = \(accuracy)")
        } else if isClassifier {
            for line in topClassLines(stacked, rows: rows) { print(line) }
        }
    }
}

extension Emulate {
    func run() throws {
        let program = try RunInputs.program(self.program)
        let weights = try RunInputs.weights(nil, programPath: self.program, for: program)
        let (rows, count) = try RunInputs.inferences(input, for: program)
        let emulator = Emulator(program: program, weights: weights)
        let clock = ContinuousClock()
        let start = clock.now
        let outputs = rows.map { emulator.run($0) }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("emulated \(count) inference\(count == 1 ? "" : "s") in plaintext fixed point (\(program.fracBits) fractional bits): \((seconds / Double(max(count, 1)) * 1e5).rounded() / 100) ms per inference")
        try RunInputs.report(outputs: outputs, program: program, to: output, labels: labels)
    }
}

extension Inspect {
    func run() throws {
        print(Disassembler.text(try RunInputs.program(program)), terminator: "")
    }
}
