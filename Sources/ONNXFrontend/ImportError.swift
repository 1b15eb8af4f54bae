/// Why a model could not be imported: one clear sentence for the user. Unsupported
/// operators are collected over the whole model and reported together.
public struct ImportError: Error, Equatable, CustomStringConvertible {
    public var message: String
    /// The unsupported nodes, when that is the reason (empty otherwise).
    public var unsupported: [UnsupportedNode]

    public init(_ message: String, unsupported: [UnsupportedNode] = []) {
        self.message = printable(message)
        self.unsupported = unsupported
    }

    public var description: String { message }
}

/// The message with control characters escaped: names in a corrupted file can hold any
/// bytes, and an error must stay one line.
private func printable(_ message: String) -> String {
    var out = ""
    for scalar in message.unicodeScalars {
        if scalar.value < 0x20 || scalar.value == 0x7F {
            out += "\\u{\(String(scalar.value, radix: 16))}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// One node mpcc cannot import, with the reason when the op type itself is supported
/// but this use of it is not (e.g. MaxPool whose Indices output is used).
public struct UnsupportedNode: Equatable, Sendable {
    public var opType: String
    public var nodeName: String
    public var reason: String?
}

/// The combined message: `Sigmoid (65 nodes, first: s1, s2), Tanh (node t1), Mul (node m:
/// reason)`, one entry per op type in order of first appearance, each use that is not
/// supported grouped by its reason, at most two node names each.
func unsupportedMessage(_ nodes: [UnsupportedNode], file: String) -> String {
    let parts = grouped(nodes, by: \.opType).map { opType, entries -> String in
        var pieces: [String] = []
        let plain = entries.filter { $0.reason == nil }.map(\.nodeName)
        if !plain.isEmpty { pieces.append(nodeList(plain)) }
        for (reason, uses) in grouped(entries.filter { $0.reason != nil }, by: { $0.reason! }) {
            pieces.append("\(nodeList(uses.map(\.nodeName))): \(reason)")
        }
        return "\(opType.isEmpty ? "an op with no type" : opType) (\(pieces.joined(separator: "; ")))"
    }
    let count = nodes.count
    return "\(file) uses \(count == 1 ? "an operator" : "operators") that mpcc does not support: \(parts.joined(separator: ", "))"
}

/// `node a`, `nodes a, b`, or `65 nodes, first: a, b`.
private func nodeList(_ names: [String]) -> String {
    switch names.count {
    case 1: return "node \(names[0])"
    case 2: return "nodes \(names[0]), \(names[1])"
    default: return "\(names.count) nodes, first: \(names[0]), \(names[1])"
    }
}

/// `items` grouped by `key`, groups in order of first appearance.
private func grouped<Key: Hashable>(_ items: [UnsupportedNode], by key: (UnsupportedNode) -> Key) -> [(Key, [UnsupportedNode])] {
    var order: [Key] = [], groups: [Key: [UnsupportedNode]] = [:]
    for item in items {
        let k = key(item)
        if groups[k] == nil { order.append(k) }
        groups[k, default: []].append(item)
    }
    return order.map { ($0, groups[$0]!) }
}
