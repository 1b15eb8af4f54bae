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

/// The combined message: `Sigmoid (nodes sig_a, sig_b), Tanh (node t1), Mul (node m: both
/// operands are computed)`, grouped by op type in order of first appearance.
func unsupportedMessage(_ nodes: [UnsupportedNode], file: String) -> String {
    var order: [String] = []
    var byType: [String: [UnsupportedNode]] = [:]
    for node in nodes {
        if byType[node.opType] == nil { order.append(node.opType) }
        byType[node.opType, default: []].append(node)
    }
    let parts = order.map { opType -> String in
        let entries = byType[opType]!
        let plain = entries.filter { $0.reason == nil }.map(\.nodeName)
        var pieces: [String] = []
        if !plain.isEmpty { pieces.append("\(plain.count == 1 ? "node" : "nodes") \(plain.joined(separator: ", "))") }
        for entry in entries { if let reason = entry.reason { pieces.append("node \(entry.nodeName): \(reason)") } }
        return "\(opType.isEmpty ? "an op with no type" : opType) (\(pieces.joined(separator: "; ")))"
    }
    let count = nodes.count
    return "\(file) uses \(count == 1 ? "an operator" : "operators") that mpcc does not support: \(parts.joined(separator: ", "))"
}
