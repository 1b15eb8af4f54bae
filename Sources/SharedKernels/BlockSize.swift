/// Block size of one channel of a block ReLU. `[1,1]` is an ordinary ReLU, `[0,1]`
/// leaves the channel linear (identity) and `[1,0]` zeroes it; neither costs a DReLU.
public struct BlockSize: Sendable, Hashable, CustomStringConvertible {
    public var height: Int
    public var width: Int

    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    public static let relu = BlockSize(1, 1)
    public static let identity = BlockSize(0, 1)
    public static let zero = BlockSize(1, 0)

    public var isIdentity: Bool { self == .identity }
    public var isZero: Bool { self == .zero }
    /// A real patch (both sides positive), as opposed to the two special codes.
    public var isPatch: Bool { height > 0 && width > 0 }

    /// DReLUs for one H x W channel: one per patch, patches in ceil mode from the top-left.
    public func drelus(height h: Int, width w: Int) -> Int {
        guard isPatch else { return 0 }
        return ((h + height - 1) / height) * ((w + width - 1) / width)
    }

    /// The areas of the patches of one H x W channel and how many patches have each:
    /// full patches, then the partial last column, row and corner (ceil mode).
    public func patchAreas(height h: Int, width w: Int) -> [(area: Int, count: Int)] {
        guard isPatch else { return [] }
        let rows = [(height, h / height), (h % height, h % height > 0 ? 1 : 0)]
        let columns = [(width, w / width), (w % width, w % width > 0 ? 1 : 0)]
        return rows.flatMap { row in columns.map { (row.0 * $0.0, row.1 * $0.1) } }.filter { $0.count > 0 }
    }

    /// `2x3`, `id` or `zero`.
    public var description: String {
        if isIdentity { return "id" }
        if isZero { return "zero" }
        return "\(height)x\(width)"
    }
}

// The patch walk: every copy of block ReLU (float engine, its backward rule, the planner,
// the runtime) must visit the same patches in the same order, so they all use these.
extension BlockSize {
    /// Calls `body(patch, rows, columns)` for every patch of an H x W plane: patches of
    /// `height` x `width` tile it from the top-left in row-major order, the last row and
    /// column of patches partial where the sides do not divide (ceil mode). `patch` counts
    /// from 0 up to `drelus(height:width:)`; identity and zero blocks have no patches.
    @inlinable
    public func forEachPatch(
        height h: Int, width w: Int, _ body: (_ patch: Int, _ rows: Range<Int>, _ columns: Range<Int>) throws -> Void
    ) rethrows {
        guard isPatch else { return }
        var patch = 0
        var top = 0
        while top < h {
            let rows = top..<min(top + height, h)
            var left = 0
            while left < w {
                try body(patch, rows, left..<min(left + width, w))
                patch += 1
                left += width
            }
            top += height
        }
    }

    /// Every patch of an [N, C, H, W] tensor whose channel c has block `blocks[c]`, in
    /// (sample, channel, patch) order: `body(patch, plane, rows, columns)` with `patch`
    /// counted over the whole tensor and `plane` the offset of the channel plane's first
    /// element (rows and columns index inside the plane).
    @inlinable
    public static func forEachPatch(
        shape: [Int], blocks: [BlockSize],
        _ body: (_ patch: Int, _ plane: Int, _ rows: Range<Int>, _ columns: Range<Int>) throws -> Void
    ) rethrows {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        var first = 0
        for sample in 0..<n {
            for channel in 0..<c {
                let plane = (sample * c + channel) * h * w
                try blocks[channel].forEachPatch(height: h, width: w) { patch, rows, columns in
                    try body(first + patch, plane, rows, columns)
                }
                first += blocks[channel].drelus(height: h, width: w)
            }
        }
    }
}
