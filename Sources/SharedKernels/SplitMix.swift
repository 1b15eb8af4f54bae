#if canImport(Glibc)
import Glibc
#endif

/// A small seeded generator (SplitMix64) with Gaussian samples (Box-Muller): the planner's
/// random projections, mpcc's reproducible synthetic calibration inputs and the tests'
/// reproducible data. It lives here because this target depends on nothing: the planner,
/// mpcc and the test support can all share it without the test support (which runtime and
/// bytecode tests use too) pulling in the planner.
public struct SplitMix: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1), never 0 (so `log` below stays finite).
    public mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / Double(1 << 53) }

    /// Standard normal.
    public mutating func normal() -> Float {
        Float((-2 * log(uniform())).squareRoot() * cos(2 * Double.pi * uniform()))
    }
}
