import ArgumentParser
import CommandLineSupport
import FloatEngine
import Foundation
import IR
import Lowering
import NPY
import ONNXFrontend
import Passes
import Planner
import SharedKernels

/// Block-ReLU planning: --spec, --budget / --drelus, --emit report.
extension MPCC {
    /// Inserts block ReLUs from --spec, or plans them under --budget / --drelus.
    func applyPlanning(_ graph: inout Graph) throws -> BlockReLUPlanner.Result? {
        do {
            if let spec {
                let plan = try BlockPlan.read(path: spec)
                try plan.apply(to: &graph)
                return nil
            }
            guard budget != nil || drelus != nil else { return nil }
            let total = BlockReLUPlanner.modelDReLUs(graph)
            let limit = drelus ?? Int((budget! * Double(total)).rounded(.down))
            let method = distortion ?? BlockReLUPlanner.defaultMethod(for: graph)
            let table = try loadDistortion.map { try DistortionTable.read(path: $0, for: graph) }
            // A loaded table needs inputs only to measure the plan (with --calibration).
            let inputs = table == nil || calibration != nil ? try calibrationInputs(for: graph) : Tensor(shape: [0], floats: [])
            let result = try BlockReLUPlanner.plan(
                graph: graph, calibration: inputs, budget: limit, method: method, table: table, fastSamples: fastSamples,
                fastProjections: fastProjections, fastRerunMACs: fastRerunMacs, fastTolerance: fastTolerance)
            if let path = saveDistortion, let measured = result.table {
                guard FileManager.default.createFile(atPath: path, contents: try measured.json(method: method)) else {
                    throw CommandFailure(.userError, "cannot write \(path)")
                }
            }
            try result.plan.apply(to: &graph)
            return result
        } catch let error as PlanError {
            throw CommandFailure(.userError, error.message)
        } catch let error as KnapsackError {
            throw CommandFailure(.userError, error.description)
        } catch let error as NPYError {
            throw CommandFailure(.userError, error.message)
        }
    }

    /// --calibration inputs, checked against the model's input, or synthetic ones.
    func calibrationInputs(for graph: Graph) throws -> Tensor {
        let sample = graph.type(of: graph.inputs[0])
        guard let calibration else {
            printError("mpcc: warning: no --calibration given; planning on 64 synthetic Gaussian inputs, so block sizes will be poor")
            return MPCC.syntheticInputs(graph, rows: 64)
        }
        let array = try NPYArray.read(path: calibration)
        guard case .float32(let values) = array.data else { throw CommandFailure(.userError, "\(calibration) holds int64 values; calibration inputs must be float32") }
        guard array.shape.count == sample.rank, Array(array.shape.dropFirst()) == Array(sample.shape.dropFirst()), array.shape[0] > 0 else {
            throw CommandFailure(.userError, "\(calibration) has shape \(array.shape); the model takes inputs of shape \(sample.shape) (N x \(sample.shape.dropFirst().map(String.init).joined(separator: " x ")))")
        }
        guard values.allSatisfy({ $0.isFinite }) else {
            throw CommandFailure(.userError, "\(calibration) holds NaN or infinite values; calibration inputs must be finite")
        }
        return Tensor(shape: array.shape, floats: values)
    }

    /// --emit report: per-layer DReLUs and block sizes, accuracy with --labels, JSON with --report.
    func printReport(_ graph: Graph, unplanned: Graph, planning: BlockReLUPlanner.Result?, sigmoids: [String]) throws {
        let layers = PlanReport(graph: graph, table: planning?.table)
        print(layers.text, terminator: "")
        let fixedPoint = try calibratedFixedPoint(graph)
        let program = try lower(graph, fixedPoint).program
        print(costText(program), terminator: "")
        print(fixedPointText(program, fixedPoint), terminator: "")
        let rings = fixedPoint.narrow == nil ? nil : Lowering.layerRings(graph, options: loweringOptions(fixedPoint))
        print(ringText(rings), terminator: "")
        let sigmoidErrors = self.sigmoidErrors(sigmoids, fixedPoint)
        print(sigmoidText(sigmoidErrors, fixedPoint), terminator: "")
        if let windows = fixedPoint.windows {
            let rate = Double(windows.mismatches) / Double(max(windows.compared, 1))
            print("approximate DReLU on \(approxDrelu!) bits (windows from calibration ranges): the sign may differ from the exact one on at most \(windows.mismatches) of \(windows.compared) calibration values (\(rate))")
        }
        var accuracy: [String: Double] = [:]
        if let labels, let calibration {
            let inputs = try NPYArray.read(path: calibration)
            let truth = try NPYArray.read(path: labels)
            guard case .int64(let classes) = truth.data, classes.count == inputs.shape.first else {
                throw CommandFailure(.userError, "\(labels) must hold one int64 class per calibration input")
            }
            let tensor = Tensor(shape: inputs.shape, floats: inputs.floats)
            for (name, candidate) in [("original", unplanned), ("planned", graph)] {
                let output = try FloatEngine(graph: candidate).runBatch(tensor)[0]
                accuracy[name] = top1(output, classes)
            }
            print("float top-1 on the calibration set: original \(accuracy["original"]!), planned \(accuracy["planned"]!)")
        }
        if let planning {
            print("distortion: \(planning.distortion) (lower bound \(planning.lowerBound)); measured in \(rounded(planning.distortionSeconds)) s, knapsack \(rounded(planning.knapsackSeconds)) s")
            if let refinement = planning.refinement {
                print("the plan applied as a whole: distortion \(refinement.measured) measured on the calibration inputs, \(refinement.additive) predicted by adding its channels' entries (\(refinement.solves) solves with per-layer interaction corrections)")
            }
        }
        if let plot { try write(PlanPlot.svg(layers), to: plot) }
        guard let path = report else { return }
        var json: [String: Any] = [
            "model_drelus": layers.rows.reduce(0) { $0 + $1.originalDReLUs }, "plan_drelus": layers.rows.reduce(0) { $0 + $1.chosenDReLUs },
            "layers": layers.rows.map { row -> [String: Any] in
                var entry: [String: Any] = [
                    "name": row.name, "channels": row.channels, "height": row.height, "width": row.width,
                    "original_drelus": row.originalDReLUs, "planned_drelus": row.chosenDReLUs,
                    "blocks": Dictionary(uniqueKeysWithValues: row.histogram.map { ("\($0.block)", $0.count) }),
                ]
                if let distortion = row.distortion { entry["distortion"] = distortion }
                return entry
            },
        ]
        if !accuracy.isEmpty { json["accuracy"] = accuracy }
        json["cost"] = costJSON(program)
        json["fixed_point"] = fixedPointJSON(program)
        json["rings"] = ringJSON(rings)
        if !sigmoidErrors.isEmpty { json["sigmoid_approximation"] = sigmoidJSON(sigmoidErrors) }
        if let planning {
            json["budget"] = planning.budget
            json["distortion"] = planning.distortion
            json["distortion_lower_bound"] = planning.lowerBound
            json["distortion_seconds"] = planning.distortionSeconds
            json["knapsack_seconds"] = planning.knapsackSeconds
            if let refinement = planning.refinement {
                json["measured_distortion"] = refinement.measured
                json["additive_distortion"] = refinement.additive
            }
        }
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        guard FileManager.default.createFile(atPath: path, contents: data) else { throw CommandFailure(.userError, "cannot write \(path)") }
    }

    func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }

    /// Writes `text` to `path`, or to stdout without one.
    func write(_ text: String, to path: String?) throws {
        guard let path else {
            print(text, terminator: "")
            return
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else { throw CommandFailure(.userError, "cannot write \(path)") }
    }
}
