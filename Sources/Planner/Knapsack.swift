// The multiple-choice knapsack behind Block-ReLU planning: every ReLU channel (a group)
// takes exactly one block size (an option) with a DReLU count (cost) and a distortion,
// and the plan minimises total distortion under a DReLU budget.
//
// Two solvers share one preprocessing step (the Pareto frontier of each group):
// `exact` is the reference's dynamic program over the cost axis, kept for small
// instances and as the oracle in tests; `fast` is the Lagrangian / LP relaxation over
// each group's lower convex hull plus a greedy fill, which handles ResNet50-sized
// instances (22,720 groups, ~100 options, budget ~576,522) in milliseconds and reports a
// lower bound so the gap to the optimum is known.

/// One choice for a group: `cost` DReLUs (>= 0) for `distortion` (finite; lower is better).
public struct KnapsackOption: Sendable, Equatable {
    public var cost: Int
    public var distortion: Double

    public init(cost: Int, distortion: Double) {
        self.cost = cost
        self.distortion = distortion
    }
}

/// One option index per group, with the totals they add up to.
public struct KnapsackSolution: Sendable, Equatable {
    /// `choices[g]` indexes `groups[g]` as given to the solver.
    public var choices: [Int]
    public var cost: Int
    public var distortion: Double

    public init(choices: [Int], cost: Int, distortion: Double) {
        self.choices = choices
        self.cost = cost
        self.distortion = distortion
    }
}

public struct KnapsackError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "knapsack: \(message)" }
}

public enum KnapsackSolver {
    /// `exact` refuses instances whose DP table (groups x (capacity + 1) cells) is larger:
    /// the traceback alone is one byte per cell for up to 256 useful options per group.
    public static let exactCellLimit = 200_000_000

    /// Exact dynamic program over the cost axis: O(groups x options x capacity) time and
    /// a traceback of groups x (capacity + 1) option indices (1 byte each while no group
    /// has more than 256 useful options, 2 bytes up to 65,536), plus two rows of Doubles.
    /// The capacity is the budget, capped at the sum of every group's dearest useful
    /// option (more budget buys nothing). Throws instead of running when the table would
    /// exceed `exactCellLimit` cells; real instances go to `fast`.
    public static func exact(_ groups: [[KnapsackOption]], budget: Int) throws -> KnapsackSolution {
        let frontiers = try ParetoFrontiers(groups, budget: budget)
        var dearest = 0
        var widest = 0
        for g in 0..<frontiers.groupCount {
            let (sum, overflow) = dearest.addingReportingOverflow(frontiers.cost[frontiers.start[g + 1] - 1])
            dearest = overflow ? Int.max : sum
            widest = max(widest, frontiers.start[g + 1] - frontiers.start[g])
        }
        let capacity = min(budget, dearest)
        let (width, wideOverflow) = capacity.addingReportingOverflow(1)
        let (cells, cellOverflow) = groups.count.multipliedReportingOverflow(by: width)
        guard !wideOverflow, !cellOverflow, cells <= exactCellLimit else {
            throw KnapsackError(
                "the exact solver refuses \(groups.count) groups x \(capacity) budget "
                    + "(over \(exactCellLimit) DP cells); use KnapsackSolver.fast")
        }
        let points: [Int]
        if widest <= 1 << 8 {
            points = dynamicProgram(frontiers, capacity: capacity, traceback: UInt8.self)
        } else if widest <= 1 << 16 {
            points = dynamicProgram(frontiers, capacity: capacity, traceback: UInt16.self)
        } else {
            points = dynamicProgram(frontiers, capacity: capacity, traceback: UInt32.self)
        }
        return frontiers.solution(points)
    }

    /// Fast solver for real instances. The LP relaxation of the multiple-choice knapsack
    /// is the Lagrangian dual: at a price `lambda` per DReLU each group independently takes
    /// the point of its lower convex hull minimising distortion + lambda x cost. A bisection
    /// on lambda finds the cheapest price whose choices fit the budget; those choices, plus
    /// a greedy fill of the leftover budget with the best distortion-per-DReLU upgrades
    /// over every non-dominated option, form the solution, and the dual value at that
    /// price is `lowerBound` (<= the true optimum). The two differ by at most the one
    /// hull step the LP would take fractionally, i.e. one group's distortion swing.
    /// Memory is O(total options); nothing is proportional to the budget.
    public static func fast(_ groups: [[KnapsackOption]], budget: Int) throws -> (
        solution: KnapsackSolution, lowerBound: Double
    ) {
        let frontiers = try ParetoFrontiers(groups, budget: budget)
        let hulls = LowerHulls(frontiers)
        let price = hulls.cheapestFittingPrice(budget: budget)
        var points = [Int](repeating: 0, count: frontiers.groupCount)
        var cost = 0
        var distortion = 0.0
        for g in 0..<frontiers.groupCount {
            let h = hulls.choice(group: g, price: price)
            points[g] = hulls.point[h]
            cost += hulls.cost[h]  // cannot overflow: cheapestFittingPrice checked it fits
            distortion += frontiers.distortion[hulls.point[h]]
        }
        // Weak duality: sum over groups of min(d + price c) - price B. These choices are
        // the minimisers, so the sum is `distortion + price x cost`.
        let lowerBound = distortion - price * Double(budget - cost)
        fillGreedily(frontiers, points: &points, remaining: budget - cost)
        return (frontiers.solution(points), lowerBound)
    }

    private static func dynamicProgram<Index: FixedWidthInteger & UnsignedInteger>(
        _ frontiers: ParetoFrontiers, capacity: Int, traceback _: Index.Type
    ) -> [Int] {
        let width = capacity + 1
        let groupCount = frontiers.groupCount
        // previous[b]: least distortion of the groups so far within b DReLUs (b bounds the
        // total rather than matching it, so before any group it is 0 everywhere).
        var previous = [Double](repeating: 0, count: width)
        var current = [Double](repeating: 0, count: width)
        var traceback = [Index](repeating: 0, count: groupCount * width)
        frontiers.cost.withUnsafeBufferPointer { costs in
            frontiers.distortion.withUnsafeBufferPointer { distortions in
                traceback.withUnsafeMutableBufferPointer { traceback in
                    for g in 0..<groupCount {
                        let first = frontiers.start[g]
                        let end = frontiers.start[g + 1]
                        previous.withUnsafeBufferPointer { previous in
                            current.withUnsafeMutableBufferPointer { current in
                                for b in 0..<width {
                                    // Frontier costs ascend, so the loop stops at the first
                                    // option over b; ties keep the cheaper option.
                                    var best = Double.infinity
                                    var bestPoint = first
                                    var p = first
                                    while p < end, costs[p] <= b {
                                        let value = previous[b - costs[p]] + distortions[p]
                                        if value < best {
                                            best = value
                                            bestPoint = p
                                        }
                                        p += 1
                                    }
                                    current[b] = best
                                    traceback[g * width + b] = Index(truncatingIfNeeded: bestPoint - first)
                                }
                            }
                        }
                        swap(&previous, &current)
                    }
                }
            }
        }
        // The frontiers checked that the cheapest options fit, so best[capacity] is finite
        // and the walk back only visits reachable cells.
        var points = [Int](repeating: 0, count: groupCount)
        var b = capacity
        for g in stride(from: groupCount - 1, through: 0, by: -1) {
            let p = frontiers.start[g] + Int(traceback[g * width + b])
            points[g] = p
            b -= frontiers.cost[p]
        }
        return points
    }

    /// Spends `remaining` DReLUs on upgrades, best distortion drop per DReLU first, until
    /// no upgrade of any group fits. Choices only move up a group's frontier and the
    /// remaining budget only shrinks, so a heap entry stays valid until its group moves or
    /// its cost outgrows the budget; such entries are recomputed when they surface.
    private static func fillGreedily(_ frontiers: ParetoFrontiers, points: inout [Int], remaining: Int) {
        var remaining = remaining
        var heap = UpgradeHeap()
        for g in 0..<frontiers.groupCount {
            if let upgrade = frontiers.bestUpgrade(group: g, from: points[g], within: remaining) {
                heap.push(upgrade)
            }
        }
        while let upgrade = heap.pop() {
            let g = Int(upgrade.group)
            if upgrade.cost <= remaining {
                points[g] = Int(upgrade.to)
                remaining -= upgrade.cost
            }
            if let next = frontiers.bestUpgrade(group: g, from: points[g], within: remaining) {
                heap.push(next)
            }
        }
    }
}

/// Each group's non-dominated options, flattened: costs strictly ascending and
/// distortions strictly descending within a group. Options over the budget, dominated
/// options and all but the first best of equal-cost options are dropped; none of them can
/// improve a solution.
struct ParetoFrontiers {
    var groupCount: Int
    /// Group g owns `start[g]..<start[g + 1]`.
    var start: [Int]
    var cost: [Int]
    var distortion: [Double]
    /// Index of the point's option in its group as the caller gave it.
    var option: [Int32]

    init(_ groups: [[KnapsackOption]], budget: Int) throws {
        guard budget >= 0 else { throw KnapsackError("the budget is negative (\(budget))") }
        groupCount = groups.count
        start = [0]
        start.reserveCapacity(groups.count + 1)
        cost = []
        distortion = []
        option = []
        // Candidates of one group, sorted by (cost, distortion, index): copied out of the
        // caller's array so the sort compares contiguous plain values.
        var order: [Candidate] = []
        var left = budget  // what the cheapest options leave; subtraction cannot overflow
        for (g, options) in groups.enumerated() {
            guard !options.isEmpty else { throw KnapsackError("group \(g) has no options") }
            order.removeAll(keepingCapacity: true)
            var cheapest = Int.max
            for (i, candidate) in options.enumerated() {
                guard candidate.cost >= 0 else {
                    throw KnapsackError("group \(g) option \(i) has a negative cost (\(candidate.cost))")
                }
                guard candidate.distortion.isFinite else {
                    throw KnapsackError("group \(g) option \(i) has distortion \(candidate.distortion)")
                }
                cheapest = min(cheapest, candidate.cost)
                if candidate.cost <= budget {
                    order.append(Candidate(cost: candidate.cost, distortion: candidate.distortion, index: Int32(i)))
                }
            }
            guard cheapest <= budget else {
                throw KnapsackError("group \(g)'s cheapest option costs \(cheapest), over the whole budget \(budget)")
            }
            guard cheapest <= left else {
                throw KnapsackError(
                    "infeasible: the cheapest options of groups 0...\(g) already cost more than the budget \(budget)")
            }
            left -= cheapest
            order.sort()
            var best = Double.infinity
            for candidate in order where candidate.distortion < best {
                best = candidate.distortion
                cost.append(candidate.cost)
                distortion.append(best)
                option.append(candidate.index)
            }
            start.append(cost.count)
        }
    }

    struct Candidate: Comparable {
        var cost: Int
        var distortion: Double
        var index: Int32

        static func < (a: Candidate, b: Candidate) -> Bool {
            if a.cost != b.cost { return a.cost < b.cost }
            if a.distortion != b.distortion { return a.distortion < b.distortion }
            return a.index < b.index
        }
    }

    /// The upgrade of group g from frontier point `from` with the largest distortion drop
    /// per added DReLU among those adding at most `within` DReLUs (ties: the larger drop).
    func bestUpgrade(group g: Int, from: Int, within: Int) -> Upgrade? {
        var found: Upgrade?
        var bestRatio = -Double.infinity
        var p = from + 1
        // Later points drop more, so `>=` keeps the larger drop among equal ratios.
        while p < start[g + 1], cost[p] - cost[from] <= within {
            let drop = distortion[from] - distortion[p]
            let added = cost[p] - cost[from]
            let ratio = drop / Double(added)
            if ratio >= bestRatio {
                bestRatio = ratio
                found = Upgrade(ratio: ratio, drop: drop, cost: added, group: Int32(g), to: Int32(p))
            }
            p += 1
        }
        return found
    }

    /// Maps frontier points back to the caller's option indices and adds up the totals in
    /// group order (so equal choices always give bit-identical distortions).
    func solution(_ points: [Int]) -> KnapsackSolution {
        var result = KnapsackSolution(choices: [], cost: 0, distortion: 0)
        result.choices.reserveCapacity(points.count)
        for p in points {
            result.choices.append(Int(option[p]))
            result.cost += cost[p]  // the solvers keep the total within the budget, an Int
            result.distortion += distortion[p]
        }
        return result
    }
}

/// The lower convex hulls of the frontiers: the only points an LP / Lagrangian choice can
/// land on. `efficiency[h]` is the distortion drop per DReLU of the step from the previous
/// hull point to h (+infinity at a group's first point); it strictly decreases along a
/// group's hull, which is what makes a group's choice at a price a binary search.
struct LowerHulls {
    var start: [Int]
    /// Frontier point of each hull point, and its cost (copied for a cache-friendly search).
    var point: [Int]
    var cost: [Int]
    var efficiency: [Double]

    init(_ frontiers: ParetoFrontiers) {
        start = [0]
        start.reserveCapacity(frontiers.groupCount + 1)
        point = []
        cost = []
        efficiency = []
        for g in 0..<frontiers.groupCount {
            let first = point.count
            for p in frontiers.start[g]..<frontiers.start[g + 1] {
                var step = Double.infinity
                // Pop hull points that are not strictly below the chord to p: comparing the
                // same rounded efficiencies that the search uses keeps them strictly ordered.
                while point.count > first {
                    let last = point.count - 1
                    step = (frontiers.distortion[point[last]] - frontiers.distortion[p])
                        / Double(frontiers.cost[p] - cost[last])
                    guard point.count > first + 1, step >= efficiency[last] else { break }
                    point.removeLast()
                    cost.removeLast()
                    efficiency.removeLast()
                }
                point.append(p)
                cost.append(frontiers.cost[p])
                efficiency.append(step)
            }
            start.append(point.count)
        }
    }

    /// The hull point group g takes at `price` DReLU: the dearest one whose step was worth
    /// more than the price (the cheapest of the tied minimisers of distortion + price x cost).
    func choice(group g: Int, price: Double) -> Int {
        // efficiency[start[g]] is +infinity, so the answer is at least the first point.
        var low = start[g] + 1
        var high = start[g + 1]
        while low < high {
            let middle = (low + high) / 2
            if efficiency[middle] > price { low = middle + 1 } else { high = middle }
        }
        return low - 1
    }

    func fits(price: Double, budget: Int) -> Bool {
        var left = budget
        for g in 0..<start.count - 1 {
            let c = cost[choice(group: g, price: price)]
            if c > left { return false }
            left -= c
        }
        return true
    }

    /// The least price (>= 0) at which every group's choice fits the budget together.
    /// The total cost of the choices only changes at step efficiencies, and nonnegative
    /// Doubles order like their bit patterns, so bisecting on the bits finds the exact
    /// threshold in at most 64 rounds (no tolerance to tune).
    func cheapestFittingPrice(budget: Int) -> Double {
        if fits(price: 0, budget: budget) { return 0 }
        // At the largest efficiency every group is at its first (cheapest) point, which the
        // frontiers checked fits; at 0 nothing fits.
        var low: UInt64 = 0
        var high = (efficiency.lazy.filter { $0.isFinite }.max() ?? 0).bitPattern
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if fits(price: Double(bitPattern: middle), budget: budget) { high = middle } else { low = middle }
        }
        return Double(bitPattern: high)
    }
}

struct Upgrade {
    var ratio: Double
    var drop: Double
    var cost: Int
    var group: Int32
    var to: Int32

    /// Heap order: best ratio, then the larger drop, then the lower group (deterministic).
    func precedes(_ other: Upgrade) -> Bool {
        if ratio != other.ratio { return ratio > other.ratio }
        if drop != other.drop { return drop > other.drop }
        return group < other.group
    }
}

/// A binary heap of upgrades, best first; at most one entry per group.
struct UpgradeHeap {
    private var items: [Upgrade] = []

    mutating func push(_ item: Upgrade) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Upgrade? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while 2 * parent + 1 < items.count {
            var child = 2 * parent + 1
            if child + 1 < items.count, items[child + 1].precedes(items[child]) { child += 1 }
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(parent, child)
            parent = child
        }
        return top
    }
}
