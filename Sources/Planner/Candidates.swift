import IR

/// The block sizes the planner considers for a channel of an H x W map, generated from
/// the map size (no per-model tables):
///
/// * side lengths: 1 to 8, then every size up to the map side that is a power of two
///   times 1, 1.25 or 1.5 (10, 12, 16, 20, 24, 32 ...), and the full side;
/// * every pair (height, width) of such sides whose aspect ratio is at most 3, or that
///   spans a whole side of the map;
/// * of all pairs with the same cost ceil(H/h) * ceil(W/w), the most square one (ties: the
///   smaller patch);
/// * `1x1` (the ordinary ReLU) and `id` (no DReLU, the channel stays linear).
///
/// This gives 14 candidates for 7x7 maps (every cost a block can have there), 24 for
/// 14x14, 38 for 28x28, 61 for 56x56 and 80 for 112x112: the costs the reference's
/// hand-written lists (25 to 100 entries, with repeats) cover, without duplicates.
public enum BlockCandidates {
    public static func forMap(height: Int, width: Int) -> [BlockSize] {
        let heights = sides(upTo: height), widths = sides(upTo: width)
        var byCost: [Int: [BlockSize]] = [:]
        for h in heights {
            for w in widths {
                let ratio = Double(max(h, w)) / Double(min(h, w))
                guard ratio <= 3 || h == height || w == width else { continue }
                let block = BlockSize(h, w)
                byCost[block.drelus(height: height, width: width), default: []].append(block)
            }
        }
        var result: [BlockSize] = [.relu]
        for cost in byCost.keys.sorted(by: >) {
            // Most square first, then the smaller patch (it covers the map more evenly).
            let shapes = byCost[cost]!.sorted { a, b in
                let ra = Double(max(a.height, a.width)) / Double(min(a.height, a.width))
                let rb = Double(max(b.height, b.width)) / Double(min(b.height, b.width))
                return ra != rb ? ra < rb : a.height * a.width < b.height * b.width
            }
            if let shape = shapes.first, shape != .relu { result.append(shape) }
        }
        result.append(.identity)
        return result
    }

    static func sides(upTo limit: Int) -> [Int] {
        var sides = Set((1...min(8, limit)).map { $0 })
        var base = 8
        while base <= limit {
            for factor in [1.0, 1.25, 1.5] {
                let side = Int(Double(base) * factor)
                if side <= limit { sides.insert(side) }
            }
            base *= 2
        }
        sides.insert(limit)
        return sides.sorted()
    }
}
