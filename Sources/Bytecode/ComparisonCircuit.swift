/// The comparison circuit of a `bits`-bit DReLU (Runtime/PROTOCOLS.md, sign and select):
/// the carry into the top bit of x0 + x1 from the two parties' low `bits - 1` bits. Each
/// leaf is a (generate, propagate) pair of one bit position; each level of a carry-
/// lookahead tree joins groups of up to `radix` adjacent nodes (most significant first)
/// into one: G = G_0 xor P_0 G_1 xor P_0 P_1 G_2 xor ..., P = P_0 P_1 ... P_(g-1). A
/// group's products are evaluated in one round by opening each of its variables once,
/// masked, with the helper's shares of the products of the masks (`CombineRecipe`).
/// Radix 2 takes ceil(log2(bits - 1)) rounds; radix 4 half as many, for more of the
/// helper's bits.
public struct ComparisonCircuit: Sendable, Equatable {
    /// A group of adjacent nodes of one level. The group holding the least significant
    /// node never needs its P (nothing below it carries in); a group of one passes.
    public struct Group: Sendable, Hashable {
        public var size: Int
        public var needsPropagate: Bool
    }

    public var leaves: Int
    public var radix: Int
    /// Per level, its groups in node order.
    public var levels: [[Group]]

    public init(bits: Int, radix: Int = 2) {
        leaves = bits - 1
        self.radix = radix
        levels = []
        var nodes = leaves
        while nodes > 1 {
            let level = stride(from: 0, to: nodes, by: radix).map { start in
                Group(size: min(radix, nodes - start), needsPropagate: start + radix < nodes)
            }
            levels.append(level)
            nodes = level.count
        }
    }

    /// AND openings each of the client and the server sends, per compared value: one bit
    /// per leaf, then one per variable of every group.
    public var openingsPerParty: Int { leaves + levels.joined().reduce(0) { $0 + CombineRecipe.of($1).variables.count } }
    /// Bits the helper sends the server per compared value: a leaf triple's share each,
    /// and one mask product per group subset.
    public var helperBits: Int { leaves + levels.joined().reduce(0) { $0 + CombineRecipe.of($1).subsets.count } }
}

/// How one group of a level is combined. Its opened variables are P_0 ... P_(g-2) (and
/// P_(g-1) when the group's P is needed) and G_1 ... G_(g-1), member 0 being the most
/// significant; each output is a XOR of monomials over them (G_0 enters linearly). A
/// monomial over variables V, each opened as d_v = v xor a_v, is the XOR over the
/// subsets S of V of (AND of d_v for v not in S) AND a_S, where a_S is the AND of the
/// masks of S: public for S empty, a mask share for one variable, and a share the helper
/// deals (`subsets`) for two or more.
public struct CombineRecipe: Sendable {
    public struct Variable: Sendable, Equatable {
        public var propagate: Bool
        public var member: Int
    }

    public let variables: [Variable]
    /// The monomials of G after G_0, and of P if needed, as bit sets over `variables`.
    public let generateTerms: [UInt32]
    public let propagateTerm: UInt32?
    /// The subsets of two or more variables whose mask products the helper deals, in
    /// the order it sends them.
    public let subsets: [UInt32]

    init(_ group: ComparisonCircuit.Group) {
        let g = group.size, needsPropagate = group.needsPropagate && g > 1  // one node passes
        var variables = (0..<(g - 1)).map { Variable(propagate: true, member: $0) }
        if needsPropagate { variables.append(Variable(propagate: true, member: g - 1)) }
        variables += (1..<max(g, 1)).map { Variable(propagate: false, member: $0) }
        func bit(_ propagate: Bool, _ member: Int) -> UInt32 {
            1 << UInt32(variables.firstIndex(of: Variable(propagate: propagate, member: member))!)
        }
        let generateTerms = (1..<max(g, 1)).map { t in (0..<t).reduce(bit(false, t)) { $0 | bit(true, $1) } }
        let propagateTerm = needsPropagate ? (0..<g).reduce(UInt32(0)) { $0 | bit(true, $1) } : nil
        var subsets = Set<UInt32>()
        for term in generateTerms + (propagateTerm.map { [$0] } ?? []) {
            for subset in CombineRecipe.subsets(of: term) where subset.nonzeroBitCount >= 2 { subsets.insert(subset) }
        }
        self.variables = variables
        self.generateTerms = generateTerms
        self.propagateTerm = propagateTerm
        self.subsets = subsets.sorted()
    }

    /// Every subset of a bit set, the empty one included.
    public static func subsets(of set: UInt32) -> [UInt32] {
        var result: [UInt32] = [0], subset = set
        while subset != 0 {
            result.append(subset)
            subset = (subset - 1) & set
        }
        return result
    }

    private static let recipes: [ComparisonCircuit.Group: CombineRecipe] = {
        var table: [ComparisonCircuit.Group: CombineRecipe] = [:]
        for size in 1...4 { for needs in [false, true] { table[.init(size: size, needsPropagate: needs)] = CombineRecipe(.init(size: size, needsPropagate: needs)) } }
        return table
    }()

    /// The recipe of a group (radix at most 4).
    public static func of(_ group: ComparisonCircuit.Group) -> CombineRecipe { recipes[group]! }
}
