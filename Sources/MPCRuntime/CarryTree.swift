import Bytecode

/// The carry-lookahead tree of sign-and-select (`ComparisonCircuit`) on bit-sliced XOR
/// shares: planes of `words` words, node by node, most significant first. Each level
/// opens every variable of every group once, masked (one round), and evaluates each
/// group's monomials from the opened values, its mask shares and the helper's shares of
/// the masks' products (`CombineRecipe`).
extension Party {
    /// The root's G: the carry into the top bit.
    func carryTree(generate leaves: [UInt64], propagate leafPropagate: [UInt64], _ layout: SignLayout, _ prg: PRG,
                   _ feed: inout HelperFeed) throws -> [UInt64] {
        var (generate, propagate) = (leaves, leafPropagate)
        for level in layout.circuit.levels {
            (generate, propagate) = try combine(level, generate: generate, propagate: propagate, words: layout.words, prg, &feed)
        }
        return generate
    }

    private func combine(_ level: [ComparisonCircuit.Group], generate: [UInt64], propagate: [UInt64], words: Int, _ prg: PRG,
                         _ feed: inout HelperFeed) throws -> ([UInt64], [UInt64]) {
        let plans = level.map(GroupPlan.init)
        let variables = plans.reduce(0) { $0 + $1.recipe.variables.count }, subsets = plans.reduce(0) { $0 + $1.recipe.subsets.count }
        let masks = prg.words(variables * words)
        let products = role == .server ? feed.take(subsets * words) : prg.words(subsets * words)
        var message = [UInt64](repeating: 0, count: variables * words)
        var (node, variable) = (0, 0)
        for plan in plans {
            for v in plan.recipe.variables {
                let source = v.propagate ? propagate : generate, plane = (node + v.member) * words
                for w in 0..<words { message[variable * words + w] = source[plane + w] ^ masks[variable * words + w] }
                variable += 1
            }
            node += plan.size
        }
        let theirs = try exchange(message)
        var nextGenerate = [UInt64](repeating: 0, count: level.count * words), nextPropagate = nextGenerate
        let one: UInt64 = role == .server ? ~0 : 0
        var opened = [UInt64](repeating: 0, count: 8), shares = [UInt64](repeating: 0, count: 32)
        (node, variable) = (0, 0)
        var subset = 0
        for (index, plan) in plans.enumerated() {
            let nv = plan.recipe.variables.count, ns = plan.recipe.subsets.count
            for w in 0..<words {
                shares[0] = one
                for v in 0..<nv {
                    let at = (variable + v) * words + w
                    opened[v] = message[at] ^ theirs[at]
                    shares[1 + v] = masks[at]
                }
                for k in 0..<ns { shares[1 + nv + k] = products[(subset + k) * words + w] }
                let first = node * words + w
                var g = generate[first]
                for t in 0..<plan.generateEnds.count { g ^= plan.evaluate(t == 0 ? 0 : plan.generateEnds[t - 1], plan.generateEnds[t], opened, shares) }
                nextGenerate[index * words + w] = g
                nextPropagate[index * words + w] = plan.propagateEnd > plan.generateEnd
                    ? plan.evaluate(plan.generateEnd, plan.propagateEnd, opened, shares) : (plan.size == 1 ? propagate[first] : 0)
            }
            node += plan.size
            variable += nv
            subset += ns
        }
        return (nextGenerate, nextPropagate)
    }

    /// The helper's shares of the masks' products for every level, in the order the
    /// server reads them: the client's part of each product drawn from its stream, the
    /// server's sent.
    func dealCarryTree(_ layout: SignLayout, _ client: PRG, _ server: PRG, into triples: inout [UInt64]) {
        let words = layout.words
        for level in layout.circuit.levels {
            let recipes = level.map(CombineRecipe.of)
            let variables = recipes.reduce(0) { $0 + $1.variables.count }, subsets = recipes.reduce(0) { $0 + $1.subsets.count }
            let maskC = client.words(variables * words), productC = client.words(subsets * words), maskS = server.words(variables * words)
            var (variable, subset) = (0, 0)
            for recipe in recipes {
                for members in recipe.subsets {
                    for w in 0..<words {
                        var product = UInt64.max
                        for v in 0..<recipe.variables.count where members & (1 << UInt32(v)) != 0 {
                            product &= maskC[(variable + v) * words + w] ^ maskS[(variable + v) * words + w]
                        }
                        triples.append(product ^ productC[subset * words + w])
                    }
                    subset += 1
                }
                variable += recipe.variables.count
            }
        }
    }
}

/// A group's recipe, unrolled for evaluation: each monomial as the run of its subsets S
/// in `shares`/`rests` (flat arrays: plain loops, fast also in debug builds), each with
/// where its share lies (0 the public one, 1 + v a mask share, 1 + variables + k a
/// product share) and the opened variables outside S. G's monomials end at
/// `generateEnds`, P's (if needed) runs from `generateEnd` to `propagateEnd`.
struct GroupPlan {
    let size: Int
    let recipe: CombineRecipe
    let shares: [Int], rests: [UInt32]
    let generateEnds: [Int]
    var generateEnd: Int { generateEnds.last ?? 0 }
    let propagateEnd: Int

    init(_ group: ComparisonCircuit.Group) {
        size = group.size
        let recipe = CombineRecipe.of(group)
        self.recipe = recipe
        var shares: [Int] = [], rests: [UInt32] = [], ends: [Int] = []
        func append(_ monomial: UInt32) {
            for subset in CombineRecipe.subsets(of: monomial) {
                shares.append(subset == 0 ? 0
                    : subset.nonzeroBitCount == 1 ? 1 + subset.trailingZeroBitCount
                    : 1 + recipe.variables.count + recipe.subsets.firstIndex(of: subset)!)
                rests.append(monomial & ~subset)
            }
        }
        for monomial in recipe.generateTerms {
            append(monomial)
            ends.append(shares.count)
        }
        if let monomial = recipe.propagateTerm { append(monomial) }
        (self.shares, self.rests, generateEnds, propagateEnd) = (shares, rests, ends, shares.count)
    }

    /// This party's share of the monomial whose subsets are `start..<end`: the XOR over
    /// them of the share of the subset's mask product AND the opened values outside it.
    @inline(__always) func evaluate(_ start: Int, _ end: Int, _ opened: [UInt64], _ values: [UInt64]) -> UInt64 {
        var result: UInt64 = 0, index = start
        while index < end {
            var value = values[shares[index]], bits = rests[index]
            while bits != 0 {
                value &= opened[bits.trailingZeroBitCount]
                bits &= bits - 1
            }
            result ^= value
            index += 1
        }
        return result
    }
}
