#if canImport(Glibc)
import Glibc
#endif

/// The piecewise-linear sigmoid of `--approx-sigmoid`: 0.5 plus an odd function that is
/// linear between the knots 0, 0.96, 1.79, 2.77, 4.34 and 10.33 and constant (0.5) past
/// the last, so sigmoid~(x) = 0.5 + c_0 x + sum over i >= 1 of c_i (relu(x - t_i) -
/// relu(-x - t_i)), c_i the slope change at knot t_i. Two comparisons per knot after the
/// first. The knots and the values there are a minimax fit (a linear program over
/// [0, 16], knots placed by a search): within 0.0042 of the sigmoid, where interpolating
/// it at the integer knots 0..4 and 6 errs by 0.0117 at the same cost.
public enum SigmoidApproximation {
    public static let knots: [Float] = [0, 0.96, 1.79, 2.77, 4.34, 10.33]
    /// sigmoid~(t_i) - 0.5 at the knots.
    static let values: [Double] = [0, 0.227248, 0.361041, 0.44516, 0.491258, 0.5]

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    /// c_0 (the first segment's slope), then each knot's slope change (the last one
    /// flattens the curve at 0.5).
    public static let coefficients: [Float] = {
        let t: [Double] = knots.map(Double.init)
        var slopes: [Double] = []
        for k in 0..<(t.count - 1) { slopes.append((values[k + 1] - values[k]) / (t[k + 1] - t[k])) }
        slopes.append(0)
        var result: [Float] = [Float(slopes[0])]
        for k in 1..<slopes.count { result.append(Float(slopes[k] - slopes[k - 1])) }
        return result
    }()

    /// The approximation in float, as the imported graph computes it.
    public static func value(_ x: Float) -> Float {
        var sum = coefficients[0] * x
        for (index, knot) in knots.enumerated().dropFirst() {
            sum += coefficients[index] * (max(x, knot) - max(-x, knot))
        }
        return sum + 0.5
    }

    /// The largest |sigmoid~(x) - sigmoid(x)| over a 1e-3 grid of [-16, 16] (past 16
    /// the error only falls), rounded up to 4 digits.
    public static let maxError: Double = maxError(within: 16)

    /// The largest error for inputs with |x| <= `magnitude` (the error is even in x), on a
    /// 1e-3 grid plus the end point, rounded up to 4 digits.
    public static func maxError(within magnitude: Double) -> Double {
        let end = min(max(magnitude, 0), 16)
        var worst = abs(Double(value(Float(end))) - sigmoid(end))
        for x in stride(from: 0.0, through: end, by: 1e-3) { worst = max(worst, abs(Double(value(Float(x))) - sigmoid(x))) }
        return (worst * 1e4).rounded(.up) / 1e4
    }

    /// Comparisons per element: two per knot after the first.
    public static let comparisons = 2 * (knots.count - 1)
}
