import Testing

@testable import IR

/// The op groups and what derives from them, as IR/README.md documents them.
@Suite struct OpGroupTests {
    static func kinds(_ isIn: (Op.Kind) -> Bool) -> Set<String> { Set(Op.Kind.allCases.filter(isIn).map(\.rawValue)) }

    @Test func mnemonicsAreTheKindsRawValues() {
        #expect(Op.allMnemonics == Op.Kind.allCases.map(\.rawValue))
        #expect(Set(Op.allMnemonics).count == Op.allMnemonics.count)
        #expect(Op.relu6.mnemonic == "relu6")
        #expect(Op.argMax(ArgMax(axis: 1, keepDims: false, selectLastIndex: false)).mnemonic == "argmax")
        #expect(Op.batchNorm(epsilon: 1e-5).kind == .batchNorm)
    }

    @Test func everyGroupHasAnOp() {
        #expect(Set(Op.Kind.allCases.map(\.group)) == Set(OpGroup.allCases))
    }

    @Test func reluLikeOpsAreTheActivations() {
        #expect(Self.kinds { $0.group == .activation } == ["relu", "relu6", "clip", "block_relu"])
        #expect(Op.clip(min: -1, max: 1).isReLULike)
        #expect(!Op.maxPool(Pool2D(kernel: [2, 2])).isReLULike)
    }

    @Test func theClientEpilogueIsSoftmaxAndDataMovement() {
        let afterReveal: [Op] = [
            .softmax(axis: 1), .reshape(shape: [1]),
            .transpose(perm: [0]), .slice(starts: [0], steps: [1], sizes: [1]),
            .resize(Resize(mode: .nearest, coordinateMode: .asymmetric, nearestMode: .floor, scales: [1], sizes: [1])),
        ]
        #expect(afterReveal.allSatisfy { $0.mayRunAfterReveal })
        // Argmax runs on shares, so the client receives only its indices.
        let secure: [Op] = [.relu, .dense, .add, .concat(axis: 0), .pad(pads: [0, 0], value: 0), .identity, .globalAvgPool,
                            .argMax(ArgMax(axis: 1, keepDims: false, selectLastIndex: false))]
        #expect(!secure.contains { $0.mayRunAfterReveal })
    }

    @Test func affinity() {
        #expect(Op.dense.isAffine(inOperands: [0]))
        #expect(!Op.dense.isAffine(inOperands: [0, 1]))
        #expect(Op.mul.isAffine(inOperands: [1]))
        #expect(!Op.mul.isAffine(inOperands: [0, 1]))
        #expect(Op.div.isAffine(inOperands: [0]))
        #expect(!Op.div.isAffine(inOperands: [1]))
        #expect(Op.add.isAffine(inOperands: [0, 1]))
        #expect(Op.concat(axis: 1).isAffine(inOperands: [0, 2]))
        #expect(!Op.relu.isAffine(inOperands: [0]))
        #expect(!Op.maxPool(Pool2D(kernel: [2, 2])).isAffine(inOperands: [0]))
        #expect(!Op.softmax(axis: 1).isAffine(inOperands: [0]))
    }
}
