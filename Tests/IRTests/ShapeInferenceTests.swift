import Testing

@testable import IR

@Suite struct ShapeInferenceTests {
    let image = TensorType(.f32, [1, 6, 23, 37])

    func conv(_ attributes: Conv2D, weight: [Int]) throws -> [Int] {
        try Op.conv(attributes).resultType(operands: [image, TensorType(.f32, weight)]).shape
    }

    @Test func convolutionOutputSizes() throws {
        #expect(try conv(Conv2D(), weight: [8, 6, 3, 3]) == [1, 8, 21, 35])
        #expect(try conv(Conv2D(strides: [2, 3], pads: [1, 1, 1, 1]), weight: [8, 6, 3, 3]) == [1, 8, 12, 13])
        #expect(try conv(Conv2D(dilations: [2, 2]), weight: [8, 6, 3, 3]) == [1, 8, 19, 33])
        #expect(try conv(Conv2D(pads: [0, 2, 1, 0]), weight: [8, 6, 1, 1]) == [1, 8, 24, 39])
        #expect(try conv(Conv2D(group: 3), weight: [9, 2, 3, 3]) == [1, 9, 21, 35])
        #expect(try conv(Conv2D(group: 6), weight: [6, 1, 3, 3]) == [1, 6, 21, 35])
    }

    @Test func convolutionRejectsMismatches() {
        #expect(throws: IRError.self) { try conv(Conv2D(), weight: [8, 5, 3, 3]) }
        #expect(throws: IRError.self) { try conv(Conv2D(group: 4), weight: [8, 2, 3, 3]) }
        #expect(throws: IRError.self) { try conv(Conv2D(), weight: [8, 6, 30, 3]) }
        #expect(throws: IRError.self) { try conv(Conv2D(strides: [0, 1]), weight: [8, 6, 3, 3]) }
        #expect(throws: IRError.self) {
            try Op.conv(Conv2D()).resultType(operands: [image, TensorType(.f32, [8, 6, 3, 3]), TensorType(.f32, [7])])
        }
    }

    /// Expected values are PyTorch's (and onnxruntime's) pooling output sizes.
    @Test(arguments: [
        (23, 3, 2, 1, false, 12), (23, 3, 2, 1, true, 12), (6, 3, 2, 0, false, 2), (6, 3, 2, 0, true, 3),
        // ceil mode would start a last window inside the end padding: it is dropped.
        (5, 2, 2, 1, true, 3), (7, 3, 3, 1, true, 3), (37, 2, 2, 0, true, 19),
    ])
    func poolingWindowCounts(_ size: Int, _ kernel: Int, _ stride: Int, _ pad: Int, _ ceil: Bool, _ expected: Int) throws {
        #expect(try windowCount(size, kernel: kernel, stride: stride, dilation: 1, padBegin: pad, padEnd: pad, ceil: ceil) == expected)
    }

    @Test func poolingChecksPadsAgainstKernel() throws {
        let pool = Pool2D(kernel: [2, 2], strides: [2, 2], pads: [2, 0, 0, 0])
        #expect(throws: IRError.self) { try Op.maxPool(pool).resultType(operands: [image]) }
        let ok = Pool2D(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true)
        #expect(try Op.avgPool(ok).resultType(operands: [image]).shape == [1, 6, 12, 19])
    }

    @Test func hostileSizesDoNotTrap() {
        #expect(throws: IRError.self) {
            try windowCount(Int.max, kernel: Int.max, stride: 1, dilation: Int.max, padBegin: 0, padEnd: 0, ceil: true)
        }
        #expect(throws: IRError.self) { try Op.pad(pads: [Int.max, 0, 0, 0, 0, 0, 0, 0], value: 0).resultType(operands: [image]) }
    }

    @Test func broadcasting() throws {
        #expect(try broadcastShape([1, 6, 23, 37], [6, 1, 1]) == [1, 6, 23, 37])
        #expect(try broadcastShape([1], [3, 1, 2]) == [3, 1, 2])
        #expect(try broadcastShape([], [4]) == [4])
        #expect(throws: IRError.self) { try broadcastShape([1, 6, 2], [5, 1]) }
    }

    @Test func denseAndReshape() throws {
        let x = TensorType(.f32, [1, 4, 7, 9])
        #expect(try Op.dense.resultType(operands: [x, TensorType(.f32, [5, 9])]).shape == [1, 4, 7, 5])
        #expect(throws: IRError.self) { try Op.dense.resultType(operands: [x, TensorType(.f32, [5, 7])]) }
        #expect(try Op.reshape(shape: [1, 252]).resultType(operands: [x]).shape == [1, 252])
        #expect(throws: IRError.self) { try Op.reshape(shape: [1, 250]).resultType(operands: [x]) }
    }

    @Test func dataMovement() throws {
        let x = TensorType(.f32, [1, 4, 7, 9])
        #expect(try Op.transpose(perm: [0, 2, 3, 1]).resultType(operands: [x]).shape == [1, 7, 9, 4])
        #expect(throws: IRError.self) { try Op.transpose(perm: [0, 0, 1, 2]).resultType(operands: [x]) }
        #expect(try Op.concat(axis: 1).resultType(operands: [x, TensorType(.f32, [1, 2, 7, 9])]).shape == [1, 6, 7, 9])
        #expect(throws: IRError.self) { try Op.concat(axis: 1).resultType(operands: [x, TensorType(.f32, [1, 2, 7, 8])]) }
        #expect(try Op.pad(pads: [0, 0, 1, 2, 0, 0, 3, 4], value: 0).resultType(operands: [x]).shape == [1, 4, 11, 15])
        #expect(try Op.slice(starts: [0, 3, 6, 0], steps: [1, -1, -2, 4], sizes: [1, 4, 4, 3]).resultType(operands: [x]).shape == [1, 4, 4, 3])
        #expect(throws: IRError.self) { try Op.slice(starts: [0, 0, 0, 0], steps: [1, 1, 1, 4], sizes: [1, 4, 7, 4]).resultType(operands: [x]) }
        #expect(try Op.globalAvgPool.resultType(operands: [x]).shape == [1, 4, 1, 1])
        #expect(try Op.argMax(ArgMax(axis: 1, keepDims: false, selectLastIndex: false)).resultType(operands: [x]) == TensorType(.i64, [1, 7, 9]))
    }

    @Test func blockReLUPlanMustCoverEveryChannel() throws {
        let x = TensorType(.f32, [1, 3, 6, 6])
        let plan = BlockReLUPlan(blocks: [BlockSize(2, 3), .identity, .zero])
        #expect(try Op.blockReLU(plan).resultType(operands: [x]) == x)
        #expect(throws: IRError.self) { try Op.blockReLU(BlockReLUPlan(blocks: [.relu])).resultType(operands: [x]) }
        #expect(throws: IRError.self) { try Op.blockReLU(BlockReLUPlan(blocks: [.relu, BlockSize(0, 0), .relu])).resultType(operands: [x]) }
        #expect(Op.blockReLU(plan).dreluCount(input: x, output: x) == 6)
    }

    @Test func blockDReLUCountsUseCeilModePatches() {
        #expect(BlockSize(2, 3).drelus(height: 6, width: 6) == 6)
        #expect(BlockSize(4, 4).drelus(height: 7, width: 9) == 6)
        #expect(BlockSize(1, 1).drelus(height: 7, width: 9) == 63)
        #expect(BlockSize(7, 9).drelus(height: 7, width: 9) == 1)
        #expect(BlockSize(8, 8).drelus(height: 7, width: 9) == 2)
        #expect(BlockSize.identity.drelus(height: 7, width: 9) == 0)
        #expect(BlockSize.zero.drelus(height: 7, width: 9) == 0)
    }

    @Test func integerOperandsAreRejected() {
        #expect(throws: IRError.self) { try Op.relu.resultType(operands: [TensorType(.i64, [3])]) }
        #expect(throws: IRError.self) { try Op.add.resultType(operands: [TensorType(.f32, [3])]) }
    }
}
