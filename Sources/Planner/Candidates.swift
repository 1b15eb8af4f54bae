import IR

/// The block sizes the planner measures for a channel of an H x W map, generated from the
/// map size (no per-model tables):
///
/// * side lengths: every length 1 to 16, then every size up to the map side that is a
///   power of two times 1, 1.25 or 1.5 (20, 24, 32, 40, 48 ...), and the full side;
/// * every pair (height, width) of such sides: shapes of equal cost ceil(H/h) * ceil(W/w)
///   partition the map differently (1x4, 4x1, 2x2 ...), and each channel may prefer
///   another one, so all are measured and the knapsack keeps, per channel, the least
///   distorting shape of each cost;
/// * `1x1` (the ordinary ReLU) first and `id` (no DReLU, the channel stays linear) last.
///
/// This gives 50 candidates for 7x7 maps, 197 for 14x14, 362 for 28x28 and 32x32, 485 for
/// 56x56 and 626 for 112x112.
public enum BlockCandidates {
    public static func forMap(height: Int, width: Int) -> [BlockSize] {
        let heights = sides(upTo: height), widths = sides(upTo: width)
        var result: [BlockSize] = [.relu]
        for h in heights {
            for w in widths where h != 1 || w != 1 { result.append(BlockSize(h, w)) }
        }
        result.append(.identity)
        return result
    }

    /// Sides up to which every length is a candidate.
    static let everySide = 16

    static func sides(upTo limit: Int) -> [Int] {
        var sides = Set(1...max(1, min(everySide, limit)))
        var base = 16
        while base <= limit {
            for factor in [1.0, 1.25, 1.5] {
                let side = Int(Double(base) * factor)
                if side <= limit { sides.insert(side) }
            }
            base *= 2
        }
        sides.insert(max(limit, 1))
        return sides.sorted()
    }
}
