import SharedKernels
import Testing

@testable import FloatEngine

/// The patch walk against the definition written out literally: the patch of pixel
/// (y, x) is (y / bh, x / bw), patches numbered row by row, ceil(H/bh) x ceil(W/bw) of them.
struct PatchWalkTests {
    static let shapes = [(1, 1), (1, 7), (5, 1), (3, 3), (4, 6), (5, 7), (7, 5), (8, 8), (2, 9)]
    static let blocks = [
        BlockSize.relu, BlockSize(1, 2), BlockSize(2, 1), BlockSize(2, 2), BlockSize(2, 3), BlockSize(3, 2), BlockSize(4, 4),
        BlockSize(3, 5), BlockSize(7, 3), BlockSize(9, 9), BlockSize(1, 20), BlockSize(20, 1), .identity, .zero,
    ]

    /// For every pixel of an h x w plane, its patch index under `block` (-1 for none).
    static func literalPatches(_ block: BlockSize, h: Int, w: Int) -> [Int] {
        guard block.height > 0 && block.width > 0 else { return [Int](repeating: -1, count: h * w) }
        let across = (w + block.width - 1) / block.width
        var patches: [Int] = []
        for y in 0..<h { for x in 0..<w { patches.append((y / block.height) * across + x / block.width) } }
        return patches
    }

    @Test(arguments: blocks)
    func visitsEveryPixelOfItsPatchOnce(_ block: BlockSize) {
        for (h, w) in Self.shapes {
            var walked = [Int](repeating: -1, count: h * w)
            var order: [Int] = []
            block.forEachPatch(height: h, width: w) { patch, rows, columns in
                order.append(patch)
                for y in rows { for x in columns { walked[y * w + x] = walked[y * w + x] == -1 ? patch : -2 } }
            }
            #expect(walked == Self.literalPatches(block, h: h, w: w), "\(block) on \(h)x\(w)")
            #expect(order == Array(0..<block.drelus(height: h, width: w)), "\(block) on \(h)x\(w)")
        }
    }

    @Test func tensorWalkNumbersPatchesBySampleChannelAndPatch() {
        let (n, c, h, w) = (2, 4, 5, 7)
        let blocks = [BlockSize(2, 3), .identity, .zero, BlockSize(9, 9)]
        var expected: [(patch: Int, pixels: [Int])] = []
        for sample in 0..<n {
            for channel in 0..<c {
                let literal = Self.literalPatches(blocks[channel], h: h, w: w)
                for patch in 0..<blocks[channel].drelus(height: h, width: w) {
                    let pixels = literal.indices.filter { literal[$0] == patch }.map { (sample * c + channel) * h * w + $0 }
                    expected.append((expected.count, pixels))
                }
            }
        }
        var walked: [(patch: Int, pixels: [Int])] = []
        BlockSize.forEachPatch(shape: [n, c, h, w], blocks: blocks) { patch, plane, rows, columns in
            walked.append((patch, rows.flatMap { y in columns.map { plane + y * w + $0 } }))
        }
        #expect(walked.map(\.patch) == expected.map(\.patch))
        #expect(walked.map(\.pixels) == expected.map(\.pixels))
    }

    @Test(arguments: blocks)
    func maskPlaneMatchesTheLiteralRule(_ block: BlockSize) {
        var generator = SplitMix(seed: 17)
        for (h, w) in Self.shapes {
            let x = (0..<(h * w)).map { _ in generator.normal() }
            let g = (0..<(h * w)).map { _ in generator.normal() }
            let literal = Self.literalPatches(block, h: h, w: w)
            var sums = [Float](repeating: 0, count: literal.max().map { $0 + 1 } ?? 0)
            for (pixel, patch) in literal.enumerated() where patch >= 0 { sums[patch] += x[pixel] }
            let expected = (0..<(h * w)).map { pixel -> Float in
                if block.isIdentity { return g[pixel] }
                return literal[pixel] >= 0 && sums[literal[pixel]] > 0 ? g[pixel] : 0
            }
            var out = [Float](repeating: .nan, count: h * w)
            x.withUnsafeBufferPointer { xs in
                g.withUnsafeBufferPointer { gs in
                    out.withUnsafeMutableBufferPointer { target in
                        block.maskPlane(deciding: xs.baseAddress!, source: gs.baseAddress!, into: target.baseAddress!, height: h, width: w)
                    }
                }
            }
            #expect(out == expected, "\(block) on \(h)x\(w)")
        }
    }
}
