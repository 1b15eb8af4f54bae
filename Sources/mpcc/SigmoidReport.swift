import ONNXFrontend

/// --emit report for models with --approx-sigmoid: each approximated Sigmoid's largest
/// input magnitude on the rows the fixed point was calibrated on, and the approximation's
/// largest error within it (the float function's; the fixed point adds its rounding).
extension MPCC {
    struct SigmoidError {
        var name: String
        /// nil when the passes left no value to measure the input by.
        var inputMagnitude: Float?
        var maxError: Double
    }

    /// `sigmoids` are the approximated nodes' output names; the input's magnitude is that
    /// of the approximation's local negation, `NAME/negated` (0 - x).
    func sigmoidErrors(_ sigmoids: [String], _ fixedPoint: CalibratedFixedPoint) -> [SigmoidError] {
        sigmoids.map { name in
            guard let magnitude = fixedPoint.magnitudes["\(name)/negated"] else {
                return SigmoidError(name: name, inputMagnitude: nil, maxError: SigmoidApproximation.maxError)
            }
            return SigmoidError(name: name, inputMagnitude: magnitude, maxError: SigmoidApproximation.maxError(within: Double(magnitude)))
        }
    }

    func sigmoidText(_ errors: [SigmoidError], _ fixedPoint: CalibratedFixedPoint) -> String {
        guard let worst = errors.max(by: { $0.maxError < $1.maxError }) else { return "" }
        let rows = fixedPoint.measuredRows
        let inputs = fixedPoint.calibrated ? "\(rows) calibration input\(rows == 1 ? "" : "s")" : "two synthetic Gaussian inputs (give --calibration for real ones)"
        var lines = [
            "sigmoid approximation (--approx-sigmoid): \(errors.count) nodes; on \(inputs) the largest error is \(worst.maxError) at '\(worst.name)' "
                + "(\(SigmoidApproximation.maxError) for any input); per node, the largest input magnitude and the error within it:",
        ]
        for error in errors {
            let magnitude = error.inputMagnitude.map { "|x| <= \($0)" } ?? "input not measured"
            lines.append("  \(error.name): \(magnitude), error \(error.maxError)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func sigmoidJSON(_ errors: [SigmoidError]) -> [[String: Any]] {
        errors.map { error in
            var entry: [String: Any] = ["name": error.name, "max_error": error.maxError]
            if let magnitude = error.inputMagnitude { entry["input_magnitude"] = Double(magnitude) }
            return entry
        }
    }
}
