#if canImport(Glibc)
import Glibc
#endif

/// The piecewise-linear sigmoid of `--approx-sigmoid`: 0.5 plus an odd function that
/// interpolates sigmoid(x) - 0.5 at the knots 0, 1, 2, 3, 4 and 6 and is constant past
/// 6, so sigmoid~(x) = 0.5 + c_0 x + sum over i >= 1 of c_i (relu(x - t_i) - relu(-x - t_i)),
/// c_i the slope change at knot t_i. Two comparisons per knot after the first.
public enum SigmoidApproximation {
    public static let knots: [Float] = [0, 1, 2, 3, 4, 6]

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    /// c_0 (the first segment's slope), then each knot's slope change (the last one
    /// flattens the curve at 0.5).
    public static let coefficients: [Float] = {
        let t: [Double] = knots.map(Double.init)
        var values: [Double] = t.map { sigmoid($0) - 0.5 }
        values[t.count - 1] = 0.5
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

    /// The largest |sigmoid~(x) - sigmoid(x)| over a 1e-3 grid of [-12, 12] (past 12
    /// the error only falls), rounded up to 4 digits.
    public static let maxError: Double = {
        var worst = 0.0
        for x in stride(from: -12.0, through: 12.0, by: 1e-3) { worst = max(worst, abs(Double(value(Float(x))) - sigmoid(x))) }
        return (worst * 1e4).rounded(.up) / 1e4
    }()

    /// Comparisons per element: two per knot after the first.
    public static let comparisons = 2 * (knots.count - 1)
}
