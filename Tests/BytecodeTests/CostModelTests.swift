import SharedKernels
import Testing

@testable import Bytecode

@Suite struct CostModelTests {
    /// The cost of the instruction at `index` of `chain(body)`, where body starts at %1.
    static func cost(_ body: [Instruction], weights: [WeightInfo] = [], inputShape: [Int], at index: Int = 1) -> Cost {
        let program = Fixtures.chain(body, weights: weights, inputShape: inputShape)
        return CostModel.cost(of: program.instructions[index], in: program)
    }

    @Test func exactComparisonCircuit() {
        let circuit = ComparisonCircuit(bits: 64)
        #expect(circuit.leaves == 63)
        #expect(circuit.levels.count == 6)
        let pairs = circuit.levels.joined().filter { $0.size == 2 }
        #expect(pairs.filter(\.needsPropagate).count == 57 && pairs.filter { !$0.needsPropagate }.count == 5)
        // Every level joins pairs: the node count halves (rounding up) down to one, and
        // only the group holding the least significant node goes without P.
        var nodes = circuit.leaves
        for level in circuit.levels {
            #expect(level.count == (nodes + 1) / 2 && level.filter { !$0.needsPropagate }.count == 1)
            nodes = level.count
        }
        #expect(nodes == 1)
        #expect(circuit.openingsPerParty == 63 + 3 * 57 + 2 * 5)
        #expect(circuit.helperBits == 63 + 2 * 57 + 5)
        #expect(circuit == ComparisonCircuit(bits: 64))
        #expect(circuit != ComparisonCircuit(bits: 32))
    }

    /// Radix 4: three levels for 63 leaves (16, 4, 1 nodes), each group's variables
    /// opened once: 7 bits for a group of four with P, 6 without, 4 for the lowest three;
    /// the helper's mask products: 22, 15 and 5 (CombineRecipe).
    @Test func radixFourComparisonCircuit() {
        let circuit = ComparisonCircuit(bits: 64, radix: 4)
        #expect(circuit.levels.map(\.count) == [16, 4, 1])
        let four = CombineRecipe.of(.init(size: 4, needsPropagate: true)), lowest = CombineRecipe.of(.init(size: 4, needsPropagate: false))
        let three = CombineRecipe.of(.init(size: 3, needsPropagate: false)), pass = CombineRecipe.of(.init(size: 1, needsPropagate: true))
        #expect((four.variables.count, four.subsets.count) == (7, 22) && (lowest.variables.count, lowest.subsets.count) == (6, 15))
        #expect((three.variables.count, three.subsets.count) == (4, 5) && pass.variables.isEmpty && pass.subsets.isEmpty)
        #expect(circuit.openingsPerParty == 63 + 15 * 7 + 4 + 3 * 7 + 6 + 6)
        #expect(circuit.helperBits == 63 + 15 * 22 + 5 + 3 * 22 + 15 + 15)
        let exact = CostModel.signAndSelect(values: 64, pixels: 64, comparison: Comparison(radix: 4), ring: .z64)
        #expect(exact.rounds == 1 + 3 + 1)
        #expect(ComparisonCircuit(bits: 16, radix: 4).levels.count == 2 && ComparisonCircuit(bits: 32, radix: 4).levels.count == 3)
    }

    @Test(arguments: 2...64)
    func smallerCircuitsForFewerBits(_ bits: Int) {
        let circuit = ComparisonCircuit(bits: bits)
        #expect(circuit.leaves == bits - 1)
        // ceil(log2(leaves)) levels, and leaves - 1 combines in all.
        #expect(circuit.levels.count == (bits - 1 <= 1 ? 0 : Int.bitWidth - (bits - 2).leadingZeroBitCount))
        #expect(circuit.levels.joined().filter { $0.size == 2 }.count == bits - 2)
        if bits > 2 {
            #expect(circuit.openingsPerParty < ComparisonCircuit(bits: 64).openingsPerParty || bits == 64)
        }
    }

    @Test func exactReLUCostsAtMost128BytesPerElement() {
        let n = 64 * 1000
        let shape = [1, 64, 10, 100]
        let cost = Self.cost([Instruction(make(ReLU.self) { $0.x = 0 }, shape: shape, source: "relu")], inputShape: shape)
        #expect(cost == CostModel.signAndSelect(values: n, pixels: n, comparison: .exact, ring: .z64))
        #expect(cost.drelus == n)
        #expect(cost.rounds == 1 + 6 + 1)
        #expect(cost.session == RoleBytes())
        #expect(cost.online.helper == 0 && cost.offline.client == 0 && cost.offline.server == 0)
        #expect(cost.online.client == cost.online.server)
        let perElement = Double(cost.online.total + cost.offline.total) / Double(n)
        #expect(perElement <= 128, "exact ReLU costs \(perElement) B per element")
        // 244 openings + 1 bit + 8 B per party, 182 triple bits + 16 B from the helper.
        let perParty: Int = 245 * n / 8 + 8 * n
        let helper: Int = 182 * n / 8 + 16 * n
        #expect(cost.online.total == 2 * perParty)
        #expect(cost.offline.total == helper)
    }

    @Test func approximateComparisonCostsLess() {
        let shape = [1, 64, 10, 100]
        let exact = Self.cost([Instruction(make(ReLU.self) { $0.x = 0 }, shape: shape, source: "r")], inputShape: shape)
        let approximate = Self.cost([Instruction(make(ReLU.self) { $0.x = 0; $0.comparison = Comparison(bits: 16, dropped: 4) }, shape: shape, source: "r")], inputShape: shape)
        #expect(approximate.perInferenceBytes < exact.perInferenceBytes)
        #expect(approximate.online.client < exact.online.client && approximate.offline.helper < exact.offline.helper)
        #expect(approximate.rounds < exact.rounds)
        #expect(approximate.drelus == exact.drelus)
        // The window's position does not matter, only its width.
        let shifted = Self.cost([Instruction(make(ReLU.self) { $0.x = 0; $0.comparison = Comparison(bits: 16, dropped: 40) }, shape: shape, source: "r")], inputShape: shape)
        #expect(shifted == approximate)
    }

    @Test func convCost() {
        let weights = [WeightInfo(name: "w", shape: [8, 3, 3, 3], fracBits: 12), WeightInfo(name: "b", shape: [8], fracBits: 24)]
        let input = [2, 3, 10, 12]
        let conv = Instruction(make(Conv.self) { $0.weight = 0; $0.bias = 1; $0.strides = [2, 2]; $0.pads = [1, 1, 1, 1] }, shape: [2, 8, 5, 6], source: "c")
        let cost = Self.cost([conv], weights: weights, inputShape: input)
        #expect(cost.online == RoleBytes(client: 8 * 2 * 3 * 10 * 12))
        #expect(cost.offline == RoleBytes(helper: 8 * 2 * 8 * 5 * 6))
        #expect(cost.session == RoleBytes(server: 8 * 8 * 3 * 3 * 3))
        #expect(cost.rounds == 1 && cost.drelus == 0)
        // The bias changes nothing; the program verifies.
        #expect((try? Program(decoding: Fixtures.chain([conv], weights: weights, inputShape: input).encoded())) != nil)
    }

    @Test func denseScaleMulAndRevealCosts() {
        let weights = [WeightInfo(name: "fc", shape: [10, 20], fracBits: 12), WeightInfo(name: "s", shape: [20], fracBits: 12)]
        let dense = Self.cost([Instruction(make(Dense.self) { $0.weight = 0 }, shape: [3, 10], source: "fc")], weights: weights, inputShape: [3, 20])
        #expect(dense.online == RoleBytes(client: 8 * 60) && dense.offline == RoleBytes(helper: 8 * 30) && dense.session == RoleBytes(server: 8 * 200))
        let scale = Self.cost([Instruction(make(Scale.self) { $0.weight = 1 }, shape: [3, 20], source: "s")], weights: weights, inputShape: [3, 20])
        #expect(scale.online == RoleBytes(client: 8 * 60) && scale.offline == RoleBytes(helper: 8 * 60) && scale.session == RoleBytes(server: 8 * 20))
        let mul = Self.cost([Instruction(make(Mul.self) { $0.a = 0; $0.b = 0 }, shape: [3, 20], source: "m")], inputShape: [3, 20])
        #expect(mul.online == RoleBytes(client: 8 * 120, server: 8 * 120) && mul.offline == RoleBytes(helper: 8 * 60) && mul.rounds == 1)
        let reveal = Fixtures.chain([], inputShape: [3, 20])
        var revealCost = Cost()
        revealCost.online = RoleBytes(server: 8 * 60)
        revealCost.rounds = 1
        #expect(CostModel.cost(of: reveal.instructions[1], in: reveal) == revealCost)
        // Local operations are free.
        let local = Self.cost([Instruction(make(AddPublic.self) { $0.value = 3 }, shape: [3, 20], source: "a")], inputShape: [3, 20])
        #expect(local == Cost())
    }

    @Test func blockReLUSkipsIdentityAndZeroChannels() {
        let block = { (blocks: [BlockSize]) in
            Self.cost([Instruction(make(BlockReLU.self) { $0.blocks = blocks }, shape: [2, blocks.count, 6, 5], source: "b")], inputShape: [2, blocks.count, 6, 5])
        }
        #expect(block([.identity, .zero, .identity]) == Cost())
        #expect(block([BlockSize(2, 2), .identity, .zero]) == block([BlockSize(2, 2)]))
        // 2x2 patches on 6x5: 3 x 3 per plane; both planes' pixels are selected.
        let one = block([BlockSize(2, 2)])
        #expect(one.drelus == 2 * 9)
        // The 2x2 patches (6 a plane) select by seed, the 2x1 ones (3 a plane) by word.
        #expect(one == CostModel.signAndSelect(values: 18, pixels: 2 * 30, seeded: (12, 48), comparison: .exact, ring: .z64))
        // 1x1 blocks are a ReLU.
        let relu = Self.cost([Instruction(make(ReLU.self) { $0.x = 0 }, shape: [2, 1, 6, 5], source: "r")], inputShape: [2, 1, 6, 5])
        #expect(block([BlockSize(1, 1)]) == relu)
        // Bigger blocks cost less.
        #expect(block([BlockSize(3, 5)]).perInferenceBytes < one.perInferenceBytes)
    }

    /// A block-ReLU pixel costs one ring word from each of the client and the server
    /// beyond its patch's comparison; a patch that selects by seed adds a 16-byte seed to
    /// each of them from the helper, one that selects by word a word per pixel.
    @Test(arguments: [Ring.z64, .z32])
    func blockPixelsCostTwoWordsBeyondTheirPatch(_ ring: Ring) {
        let shape = [1, 3, 16, 16]
        var program = Program(fracBits: 12, instructions: [Instruction(make(Input.self) { _ in }, shape: shape, domain: ring == .z32 ? .shared32 : .shared, source: "x")])
        program.instructions.append(Instruction(make(BlockReLU.self) { 
            $0.blocks = [BlockSize(4, 4), BlockSize(8, 8), BlockSize(1, 2)]
            $0.comparison = .exact(in: ring)
        },
                                                shape: shape, domain: ring == .z32 ? .shared32 : .shared, source: "b"))
        let cost = CostModel.cost(of: program.instructions[1], in: program)
        let patches = 16 + 4 + 128, pixels = 3 * 256
        let comparison = CostModel.signAndSelect(values: patches, pixels: 0, comparison: .exact(in: ring), ring: ring)
        // The 1x2 patches select by word (two words are at most a seed), the others by seed.
        let keys = ring.bytes * 256 + CostModel.seedBytes * (16 + 4)
        #expect(cost.online.client - comparison.online.client == ring.bytes * pixels)
        #expect(cost.offline.helper - comparison.offline.helper == 2 * keys)
        #expect(cost.helperToClient == keys)
        #expect(BlockSize(2, 2).patchAreas(height: 6, width: 5).map { [$0.area, $0.count] } == [[4, 6], [2, 3]])
        #expect(BlockSize(4, 4).patchAreas(height: 5, width: 6).map { [$0.area, $0.count] } == [[16, 1], [8, 1], [4, 1], [2, 1]])
    }

    @Test func maxPoolIsATreeOfReLUs() {
        let window = makeWindow(kernel: [3, 3], strides: [3, 3], pads: [0, 0, 0, 0], dilations: [1, 1], ceil: false)
        let cost = Self.cost([Instruction(make(MaxPool.self) { $0.window = window }, shape: [1, 2, 2, 2], source: "p")], inputShape: [1, 2, 6, 6])
        // 9 values: 4 + 2 + 1 + 1 comparisons per output, four levels.
        #expect(cost.drelus == 8 * 8)
        let level = { (pairs: Int) in CostModel.signAndSelect(values: 8 * pairs, pixels: 8 * pairs, comparison: .exact, ring: .z64) }
        #expect(cost == level(4) + level(2) + level(1) + level(1))
    }

    @Test func annotateMatchesCostOf() {
        var program = Fixtures.everyOpcode()
        for index in program.instructions.indices { program.instructions[index].cost = Cost() }
        CostModel.annotate(&program)
        for instruction in program.instructions {
            #expect(instruction.cost == CostModel.cost(of: instruction, in: program))
        }
        let total = program.totalCost
        #expect(total.drelus == program.instructions.reduce(0) { $0 + $1.cost.drelus })
        #expect(total.drelus > 0 && total.session.server > 0 && total.offline.helper > 0)
        #expect(total.perInferenceBytes == total.online.total + total.offline.total)
    }

    @Test func emptyComparisonsAreFree() {
        #expect(CostModel.signAndSelect(values: 0, pixels: 0, comparison: .exact, ring: .z64) == Cost())
        #expect(CostModel.bitBytes(0) == 0 && CostModel.bitBytes(1) == 8 && CostModel.bitBytes(64) == 8 && CostModel.bitBytes(65) == 16)
    }
}
