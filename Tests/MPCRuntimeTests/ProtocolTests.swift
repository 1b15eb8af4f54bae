import SharedKernels
import Bytecode
import CRingKernels
import MPCRuntime
import TestSupport
import Testing

/// Programs of one protocol instruction, run by three parties against plaintext.
@Suite struct ProtocolTests {
    func reluProgram(count: Int, comparison: Comparison) -> Program {
        var relu = ReLU()
        relu.x = 0
        relu.comparison = comparison
        var program = Program(fracBits: 12, instructions: [
            Instruction(Input(), shape: [1, count], source: "x"),
            Instruction(relu, shape: [1, count], source: "relu"),
            Instruction(Reveal(1), shape: [1, count], domain: .revealed, source: "out"),
        ], outputs: [2])
        CostModel.annotate(&program)
        return program
    }

    @Test(arguments: [Comparison.exact, Comparison(bits: 16, dropped: 5), Comparison(bits: 8, dropped: 0), Comparison(bits: 32, dropped: 12),
                      Comparison(radix: 4), Comparison(bits: 16, dropped: 5, radix: 4), Comparison(bits: 3, dropped: 0, radix: 4), Comparison(bits: 2, dropped: 0, radix: 4),
                      Comparison(bits: 6, dropped: 0, radix: 3)])
    func reluMatchesPlaintext(_ comparison: Comparison) throws {
        var generator = SeededGenerator(state: 3)
        // Values near 0, at powers of two, and large magnitudes, in units of 2^-12.
        var values: [Float] = [0, 1.0 / 4096, -1.0 / 4096, 2.0 / 4096, -2.0 / 4096]
        for k in 0..<19 { values += [Float(1 << k) / 4096, -Float(1 << k) / 4096, Float((1 << k) - 1) / 4096, -Float((1 << k) + 1) / 4096] }
        for _ in 0..<300 { values.append(Float.random(in: -100...100, using: &generator)) }
        let program = reluProgram(count: values.count, comparison: comparison)
        let weights = WeightFile(programHash: program.hash, tensors: [])
        let secure = try MemorySession(program: program, weights: weights).infer([values])[0][0]
        let expected = Emulator(program: program, weights: weights).run(values)[0]
        let limit = Float(1 << comparison.dropped) / 4096
        for (index, value) in values.enumerated() where secure[index] != expected[index] {
            // Only the carry of the dropped bits may flip a sign, and only next to zero.
            #expect(abs(value) <= limit, "relu(\(value)) = \(secure[index]), expected \(expected[index]) with \(comparison)")
        }
    }

    /// Truncation never wraps: values up to 2^61 in magnitude (where the old local rule
    /// went wrong for about one element in eight) come out as floor(x / 2^b) or one
    /// more, for every shift the lowering uses and the extremes.
    @Test(arguments: [0, 1, 12, 24, 40, 62], [false, true])
    func truncationNeverWraps(_ bits: Int, exact: Bool) throws {
        var generator = SeededGenerator(state: 21)
        var values: [Float] = [0, 1.0 / 4096, -1.0 / 4096, Float(1 << 40), -Float(1 << 40)]
        for k in 0..<50 { values += [Float(UInt64(1) << UInt64(k)) / 4096, -Float(UInt64(1) << UInt64(k)) / 4096] }
        for _ in 0..<4000 { values.append(Float.random(in: -0x1p48...0x1p48, using: &generator)) }
        var program = Program(fracBits: 12, instructions: [
            Instruction(Input(), shape: [1, values.count], source: "x"),
            Instruction(Trunc(0, bits: bits, exact: exact), shape: [1, values.count], source: "trunc"),
            Instruction(Reveal(1), shape: [1, values.count], domain: .revealed, source: "out"),
        ], outputs: [2])
        CostModel.annotate(&program)
        let weights = WeightFile(programHash: program.hash, tensors: [])
        let secure = try MemorySession(program: program, weights: weights).infer([values])[0][0]
        let expected = Emulator(program: program, weights: weights).run(values)[0]
        if exact {
            #expect(secure == expected, "exact trunc \(bits) differs from the emulator")
            return
        }
        let unit = Float(1) / 4096
        for (index, value) in values.enumerated() {
            // One unit of rounding, plus float32's own precision at this magnitude.
            let tolerance = unit + abs(expected[index]) * 0x1p-20
            #expect(abs(secure[index] - expected[index]) <= tolerance, "trunc \(bits) of \(value): \(secure[index]), expected \(expected[index])")
        }
    }

    /// The same from Z_2^32 (|x| < 2^30 units), into Z_2^32 and into Z_2^64 (bits = 0:
    /// the widening the lowering inserts where rings meet).
    @Test(arguments: [0, 1, 12, 20, 29], [false, true])
    func narrowTruncationNeverWraps(_ bits: Int, exact: Bool) throws {
        var generator = SeededGenerator(state: 22)
        var values: [Float] = [0, 1.0 / 4096, -1.0 / 4096, 0x1p17, -0x1p17]
        for k in 0..<30 { values += [Float(UInt64(1) << UInt64(k)) / 4096, -Float(UInt64(1) << UInt64(k)) / 4096] }
        for _ in 0..<2000 { values.append(Float.random(in: -0x1p17...0x1p17, using: &generator)) }
        let shape = [1, values.count]
        for target in [Domain.shared32, .shared] {
            var program = Program(fracBits: 12, instructions: [
                Instruction(Input(), shape: shape, domain: .shared32, source: "x"),
                Instruction(Trunc(0, bits: bits, exact: exact), shape: shape, domain: target, source: "trunc"),
                Instruction(Reveal(1), shape: shape, domain: .revealed, source: "out"),
            ], outputs: [2])
            CostModel.annotate(&program)
            let weights = WeightFile(programHash: program.hash, tensors: [])
            let secure = try MemorySession(program: program, weights: weights).infer([values])[0][0]
            let expected = Emulator(program: program, weights: weights).run(values)[0]
            let unit = Float(1 << bits) / 4096
            for (index, value) in values.enumerated() {
                #expect(abs(expected[index] * Float(1 << bits) - value) <= unit / 2 + abs(value) * 0x1p-22, "emulated trunc \(bits) of \(value)")
                if exact {
                    #expect(secure[index] == expected[index], "exact trunc \(bits) of \(value) into \(target)")
                } else {
                    #expect(abs(secure[index] - expected[index]) <= 1.0 / 4096 + abs(expected[index]) * 0x1p-22, "trunc \(bits) of \(value) into \(target): \(secure[index]), expected \(expected[index])")
                }
            }
        }
    }

    /// A client input far outside the program's range is clamped before encoding, by
    /// the parties and by the emulator alike: the output is that of the clamped input.
    @Test func inputsAreClampedToTheProgramsRange() throws {
        var relu = ReLU()
        relu.x = 0
        var program = Program(fracBits: 12, instructions: [
            Instruction(Input(), shape: [1, 4], source: "x"),
            Instruction(relu, shape: [1, 4], source: "relu"),
            Instruction(Reveal(1), shape: [1, 4], domain: .revealed, source: "out"),
        ], outputs: [2], inputRange: -1...2)
        CostModel.annotate(&program)
        let weights = WeightFile(programHash: program.hash, tensors: [])
        let input: [Float] = [1e30, -1e30, 0.5, 3]
        let secure = try MemorySession(program: program, weights: weights).infer([input])[0][0]
        #expect(secure == [2, 0, 0.5, 2])
        #expect(Emulator(program: program, weights: weights).run(input)[0] == [2, 0, 0.5, 2])
    }

    /// Patches of 1 to 35 pixels: in Z_2^64 those of 3 or more select by seed, in Z_2^32
    /// those of 5 or more; the others by a word per pixel.
    @Test(arguments: [(Comparison.exact, Ring.z64), (Comparison(bits: 16, dropped: 8), .z64), (Comparison.exact(in: .z32), .z32),
                      (Comparison(radix: 4), .z64), (Comparison.exact(in: .z32, radix: 4), .z32)])
    func blockReLUMatchesPlaintext(_ comparison: Comparison, ring: Ring) throws {
        var generator = SeededGenerator(state: 9)
        let shape = [1, 7, 7, 5]
        let count = shape.reduce(1, *)
        var block = BlockReLU()
        block.x = ring == .z32 ? 1 : 0
        block.blocks = [BlockSize(1, 1), BlockSize(2, 2), BlockSize(3, 2), .identity, .zero, BlockSize(7, 5), BlockSize(1, 3)]
        block.comparison = comparison
        let body = [Instruction(block, shape: shape, domain: ring == .z32 ? .shared32 : .shared, source: "block")]
        var program = Program(fracBits: 12, instructions: [Instruction(Input(), shape: shape, source: "x")]
            + (ring == .z32 ? [Instruction(Narrow(0), shape: shape, domain: .shared32, source: "narrow")] : []) + body
            + [Instruction(Reveal(block.x + 1), shape: shape, domain: .revealed, source: "out")], outputs: [block.x + 2])
        CostModel.annotate(&program)
        let weights = WeightFile(programHash: program.hash, tensors: [])
        for _ in 0..<5 {
            let values = (0..<count).map { _ in Float.random(in: -4...4, using: &generator) }
            let secure = try MemorySession(program: program, weights: weights).infer([values])[0][0]
            let expected = Emulator(program: program, weights: weights).run(values)[0]
            // Pixels may differ only in patches whose sum is within 2^dropped units of zero
            // (the carry of the dropped bits, PROTOCOLS.md); never with the exact sign.
            let fixed = FixedPoint.encode(values, fracBits: 12)
            var nearZero = [Bool](repeating: false, count: count)
            let (pixels, owner) = RingKernels.patchPixels(shape, block.blocks)
            var sums: [Int32: Int64] = [:]
            for (pixel, patch) in zip(pixels, owner) { sums[patch, default: 0] &+= Int64(bitPattern: fixed[pixel]) }
            for (pixel, patch) in zip(pixels, owner) where abs(sums[patch]!) < Int64(1) << Int64(comparison.dropped) { nearZero[pixel] = true }
            let differing = (0..<count).filter { secure[$0] != expected[$0] && !(nearZero[$0] && comparison != .exact) }.count
            #expect(differing == 0, "\(differing) of \(count) pixels differ with \(comparison)")
        }
    }

    /// Beaver products of two shared tensors, same shape and broadcast (x * pooled(x)).
    @Test func productsOfSharedTensorsMatchPlaintext() throws {
        var generator = SeededGenerator(state: 17)
        let shape = [1, 3, 4, 5]
        let values = (0..<60).map { _ in Float.random(in: -3...3, using: &generator) }
        var pool = GlobalAvgPool()
        pool.x = 0
        pool.shift = 17
        var poolTrunc = Trunc()
        (poolTrunc.x, poolTrunc.bits) = (1, 17)
        var square = Mul()
        (square.a, square.b) = (0, 0)
        var broadcast = Mul()
        (broadcast.a, broadcast.b) = (0, 2)
        var truncSquare = Trunc(), truncBroadcast = Trunc()
        (truncSquare.x, truncSquare.bits, truncBroadcast.x, truncBroadcast.bits) = (3, 12, 4, 12)
        var sum = Add()
        (sum.a, sum.b) = (5, 6)
        var program = Program(fracBits: 12, instructions: [
            Instruction(Input(), shape: shape, source: "x"),
            Instruction(pool, shape: [1, 3, 1, 1], source: "pool"),
            Instruction(poolTrunc, shape: [1, 3, 1, 1], source: "pool"),
            Instruction(square, shape: shape, source: "square"),
            Instruction(broadcast, shape: shape, source: "broadcast"),
            Instruction(truncSquare, shape: shape, source: "square"),
            Instruction(truncBroadcast, shape: shape, source: "broadcast"),
            Instruction(sum, shape: shape, source: "sum"),
            Instruction(Reveal(7), shape: shape, domain: .revealed, source: "out"),
        ], outputs: [8])
        CostModel.annotate(&program)
        let weights = WeightFile(programHash: program.hash, tensors: [])
        let session = MemorySession(program: program, weights: weights)
        let secure = try session.infer([values])[0][0]
        let expected = Emulator(program: program, weights: weights).run(values)[0]
        let error = zip(secure, expected).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        // Truncations are off by at most one unit (2^-12) each, scaled by |x| <= 3 once.
        #expect(error <= 8.0 / 4096, "products differ from plaintext by \(error)")
        let plain = values.indices.map { index -> Float in
            let channel = values[(index / 20 * 20)..<(index / 20 * 20 + 20)]
            return values[index] * values[index] + values[index] * channel.reduce(0, +) / 20
        }
        #expect(zip(expected, plain).allSatisfy { abs($0 - $1) < 0.01 })
        // And the bytes are the predicted ones.
        for (index, instruction) in program.instructions.enumerated() {
            #expect(session.parties[.client]!.measured[index].bytesSent == instruction.cost.online.client)
            #expect(session.parties[.helper]!.measured[index].bytesSent == instruction.cost.offline.helper)
        }
    }
}


/// The ring kernels against naive loops.
@Suite struct RingKernelTests {
    @Test(arguments: Ring.allCases) func gemmMatchesNaiveLoops(_ ring: Ring) {
        switch ring {
        case .z64: checkGemm(seed: 21, [mpc_ring_gemm, mpc_ring_gemm_parallel])
        case .z32: checkGemm(seed: 22, [mpc_ring_gemm32, mpc_ring_gemm_parallel32])
        }
    }

    /// The GEMMs of one word width against naive loops; A holds UInt64 words, of which the
    /// kernels read the low bits.
    func checkGemm<Word: FixedWidthInteger & UnsignedInteger>(
        seed: UInt64, _ kernels: [(Int32, Int32, Int32, UnsafePointer<UInt64>?, Int, UnsafePointer<Word>?, Int, UnsafeMutablePointer<Word>?, Int, Int32) -> Void]
    ) {
        var generator = SeededGenerator(state: seed)
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (3, 33, 7), (4, 300, 9), (9, 513, 17), (70, 70, 70), (130, 200, 160), (8, 49, 12), (12, 196, 9), (5, 90, 3)] {
            let a = (0..<(m * k)).map { _ in generator.next() }, b = (0..<(k * n)).map { _ in Word(truncatingIfNeeded: generator.next()) }
            var c = [Word](repeating: 0, count: m * n)
            for kernel in kernels {
                kernel(Int32(m), Int32(n), Int32(k), a, Int(k), b, Int(n), &c, Int(n), 0)
                for i in 0..<m {
                    for j in 0..<n {
                        var sum: Word = 0
                        for l in 0..<k { sum &+= Word(truncatingIfNeeded: a[i * k + l]) &* b[l * n + j] }
                        #expect(c[i * n + j] == sum, "\(Word.bitWidth) bits, \(m)x\(n)x\(k) at \(i),\(j)")
                    }
                }
            }
        }
    }

    /// The depthwise kernel equals im2col and GEMM bit for bit in both rings: strides,
    /// asymmetric padding wider than the kernel's reach, dilation, channel multipliers,
    /// batches, sizes that take two threads, and a single-channel ordinary conv.
    @Test func depthwiseKernelMatchesIm2col() {
        var generator = SeededGenerator(state: 31)
        func words(_ count: Int) -> [UInt64] { (0..<count).map { _ in generator.next() } }
        // (N, C, H, W), multiplier, (kh, kw), strides, pads, dilations
        let cases: [([Int], Int, [Int], [Int], [Int], [Int])] = [
            ([1, 8, 10, 10], 1, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]),
            ([2, 5, 9, 11], 2, [3, 3], [2, 2], [1, 0, 1, 2], [1, 1]),
            ([1, 4, 13, 7], 1, [5, 5], [1, 2], [2, 2, 2, 2], [2, 1]),
            ([1, 3, 6, 6], 3, [3, 2], [3, 1], [4, 3, 0, 5], [1, 2]),
            ([1, 1, 12, 12], 6, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]),  // one channel, group 1
            ([1, 96, 56, 56], 1, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1]),  // two threads
            ([1, 32, 17, 17], 1, [7, 7], [2, 2], [3, 3, 3, 3], [1, 1]),
        ]
        for (input, multiplier, kernel, strides, pads, dilations) in cases {
            var op = Conv()
            (op.strides, op.pads, op.dilations, op.group) = (strides, pads, dilations, input[1])
            let weightShape = [input[1] * multiplier, 1, kernel[0], kernel[1]]
            let extent = { (axis: Int) in
                (input[axis + 2] + pads[axis] + pads[axis + 2] - dilations[axis] * (kernel[axis] - 1) - 1) / strides[axis] + 1
            }
            let resultShape = [input[0], weightShape[0], extent(0), extent(1)]
            let x = RingTensor(shape: input, values: words(input.reduce(1, *)))
            let weight = words(weightShape.reduce(1, *)), bias = words(weightShape[0])
            for ring in [Ring.z64, .z32] {
                let direct = RingKernels.conv(x, op, weight: weight, weightShape: weightShape, bias: bias, resultShape: resultShape, ring: ring)
                let im2col = RingKernels.conv(x, op, weight: weight, weightShape: weightShape, bias: bias, resultShape: resultShape, ring: ring, depthwise: false)
                #expect(direct.shape == im2col.shape)
                #expect(firstDifference(direct.values, im2col.values) == nil, "depthwise \(input) x\(multiplier) \(kernel) in \(ring)")
            }
        }
    }

    /// The 32-bit conv and dense (a Z_2^32 result) are bit-identical to the 64-bit kernels
    /// followed by canonicalization, on words that are not canonical, with strides,
    /// padding, dilation, groups and bias, and sizes off the 4 x 16 and 4 x 64 blocks.
    @Test func narrowLinearKernelsMatchWideOnesCanonicalized() {
        var generator = SeededGenerator(state: 23)
        func words(_ count: Int) -> [UInt64] { (0..<count).map { _ in generator.next() } }
        // (N, C, H, W), (M, kh, kw), strides, pads, dilations, group, bias
        let convolutions: [([Int], [Int], [Int], [Int], [Int], Int, Bool)] = [
            ([1, 3, 7, 9], [5, 3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1, true),
            ([2, 4, 11, 13], [6, 3, 2], [2, 1], [0, 1, 2, 0], [2, 1], 2, true),
            ([1, 6, 9, 9], [9, 1, 1], [1, 1], [0, 0, 0, 0], [1, 1], 3, false),
            ([1, 8, 10, 10], [8, 3, 3], [2, 2], [1, 1, 1, 1], [1, 1], 8, true),
            ([1, 16, 30, 31], [36, 3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1, true),  // two threads
        ]
        for (input, kernel, strides, pads, dilations, group, hasBias) in convolutions {
            var op = Conv()
            (op.strides, op.pads, op.dilations, op.group) = (strides, pads, dilations, group)
            let weightShape = [kernel[0], input[1] / group, kernel[1], kernel[2]]
            let extent = { (axis: Int) in
                (input[axis + 2] + pads[axis] + pads[axis + 2] - dilations[axis] * (kernel[axis + 1] - 1) - 1) / strides[axis] + 1
            }
            let resultShape = [input[0], kernel[0], extent(0), extent(1)]
            let x = RingTensor(shape: input, values: words(input.reduce(1, *)))
            let weight = words(weightShape.reduce(1, *)), bias = hasBias ? words(kernel[0]) : nil
            let narrow = RingKernels.conv(x, op, weight: weight, weightShape: weightShape, bias: bias, resultShape: resultShape, ring: .z32)
            var wide = RingKernels.conv(x, op, weight: weight, weightShape: weightShape, bias: bias, resultShape: resultShape, ring: .z64)
            wide.canonicalize(.z32)
            #expect(narrow.shape == wide.shape)
            #expect(firstDifference(narrow.values, wide.values) == nil, "conv \(input) * \(weightShape) group \(group)")
        }
        // (rows, inner, outputs), bias
        for (rows, inner, outputs, hasBias) in [(1, 513, 10, true), (5, 70, 37, false), (8, 512, 100, true), (64, 300, 300, true)] {
            let x = RingTensor(shape: [rows, inner], values: words(rows * inner))
            let weight = words(outputs * inner), bias = hasBias ? words(outputs) : nil
            let shape = [rows, outputs]
            let narrow = RingKernels.dense(x, weight: weight, weightShape: [outputs, inner], bias: bias, resultShape: shape, ring: .z32)
            var wide = RingKernels.dense(x, weight: weight, weightShape: [outputs, inner], bias: bias, resultShape: shape, ring: .z64)
            wide.canonicalize(.z32)
            #expect(narrow.shape == wide.shape)
            #expect(firstDifference(narrow.values, wide.values) == nil, "dense \(rows)x\(inner) * \(outputs)")
        }
    }

    /// Where two word arrays first differ (nil: nowhere), for a short failure message.
    func firstDifference(_ a: [UInt64], _ b: [UInt64]) -> Int? {
        a.count != b.count ? min(a.count, b.count) : a.indices.first { a[$0] != b[$0] }
    }

    @Test func bitTransposeMatchesTheDefinition() {
        var generator = SeededGenerator(state: 4)
        let input = (0..<64).map { _ in generator.next() }
        var output = [UInt64](repeating: 0, count: 64)
        mpc_transpose_bits64(input, &output)
        for i in 0..<64 {
            for j in 0..<64 { #expect((output[i] >> UInt64(j)) & 1 == (input[j] >> UInt64(i)) & 1) }
        }
    }
}
