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
        var (subset, index) = (0, 0)
        (node, variable) = (0, 0)
        let one: UInt64 = role == .server ? ~0 : 0
        var opened = [UInt64](repeating: 0, count: 8), shares = [UInt64](repeating: 0, count: 32)
        for plan in plans {
            let nv = plan.recipe.variables.count, ns = plan.recipe.subsets.count
            for w in 0..<words {
                shares[0] = one
                for v in 0..<nv {
                    let at = (variable + v) * words + w
                    opened[v] = message[at] ^ theirs[at]
                    shares[1 + v] = masks[at]
                }
                for k in 0..<ns { shares[1 + nv + k] = products[(subset + k) * words + w] }
                let first = (node * words) + w
                nextGenerate[index * words + w] = plan.generateTerms.reduce(generate[first]) { $0 ^ plan.evaluate($1, opened, shares) }
                nextPropagate[index * words + w] = plan.propagateTerm.map { plan.evaluate($0, opened, shares) } ?? (plan.size == 1 ? propagate[first] : 0)
            }
            node += plan.size
            variable += nv
            subset += ns
            index += 1
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

/// A group's recipe, unrolled for evaluation: each monomial as the list of its subsets
/// S, each with where its share lies (`shares`: 0 the public one, 1 + v a mask share,
/// 1 + variables + k a product share) and the opened variables outside S.
struct GroupPlan {
    let size: Int
    let recipe: CombineRecipe
    typealias Term = [(share: Int, rest: UInt32)]
    let generateTerms: [Term]
    let propagateTerm: Term?

    init(_ group: ComparisonCircuit.Group) {
        size = group.size
        let recipe = CombineRecipe.of(group)
        self.recipe = recipe
        func term(_ monomial: UInt32) -> Term {
            CombineRecipe.subsets(of: monomial).map { subset in
                let share = subset == 0 ? 0
                    : subset.nonzeroBitCount == 1 ? 1 + subset.trailingZeroBitCount
                    : 1 + recipe.variables.count + recipe.subsets.firstIndex(of: subset)!
                return (share, monomial & ~subset)
            }
        }
        generateTerms = recipe.generateTerms.map(term)
        propagateTerm = recipe.propagateTerm.map(term)
    }

    /// This party's share of a monomial: the XOR over its subsets of the share of the
    /// subset's mask product AND the opened values of the variables outside it.
    @inline(__always) func evaluate(_ term: Term, _ opened: [UInt64], _ shares: [UInt64]) -> UInt64 {
        var result: UInt64 = 0
        for (share, rest) in term {
            var value = shares[share], bits = rest
            while bits != 0 {
                value &= opened[bits.trailingZeroBitCount]
                bits &= bits - 1
            }
            result ^= value
        }
        return result
    }
}
