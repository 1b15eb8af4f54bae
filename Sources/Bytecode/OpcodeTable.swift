import SharedKernels
/// Runtime/BYTECODE.md's opcode table, generated from the instruction definitions (a
/// test checks the document against it, so the two cannot drift).
public enum OpcodeTable {
    public static func markdown() -> String {
        var lines = [
            "| opcode | mnemonic | kind | fields in order | result |",
            "|---|---|---|---|---|",
        ]
        for opcode in Opcode.allCases {
            let definition = opcode.definition
            var signature = FieldSignature()
            var fields = definition.init()
            try? fields.visit(&signature)
            let listed = signature.parts.isEmpty ? "—" : signature.parts.joined(separator: ", ")
            lines.append("| \(opcode.rawValue) | `\(definition.mnemonic)` | \(definition.kind.rawValue) | \(listed) | \(definition.summary) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Names each field with its kind and range, as the table documents them.
struct FieldSignature: FieldVisitor {
    var parts: [String] = []

    mutating func operand(_ name: String, _ value: inout Int) { parts.append("%\(name)") }
    mutating func operands(_ name: String, _ value: inout [Int]) { parts.append("%\(name)...") }
    mutating func weight(_ name: String, _ value: inout Int) { parts.append("#\(name)") }
    mutating func optionalWeight(_ name: String, _ value: inout Int?) { parts.append("#\(name)?") }
    mutating func integer(_ name: String, _ value: inout Int, _ range: ClosedRange<Int>) {
        if range == Int(Int64.min)...Int(Int64.max) { return parts.append(name) }
        // A comparison's window must fit the ring: its range depends on `bits`.
        parts.append(name == "dropped" ? "dropped (0...64-bits)" : "\(name) (\(Self.text(range)))")
    }
    mutating func integers(_ name: String, _ value: inout [Int], count: ClosedRange<Int>, _ range: ClosedRange<Int>) {
        let length = count.lowerBound == count.upperBound ? "\(count.lowerBound)" : "≤ \(count.upperBound)"
        parts.append("\(name)[\(length)] (\(Self.text(range)))")
    }
    mutating func blocks(_ name: String, _ value: inout [BlockSize]) { parts.append("\(name) (one per channel)") }
    mutating func taps(_ name: String, _ value: inout [ResizeTap]) { parts.append("\(name) (taps)") }

    /// `0...2^30`: powers of two as such, so ranges read like the format's limits.
    static func text(_ range: ClosedRange<Int>) -> String { "\(power(range.lowerBound))...\(power(range.upperBound))" }

    private static func power(_ value: Int) -> String {
        let magnitude = value.magnitude
        guard magnitude >= 1024, magnitude & (magnitude - 1) == 0 else { return "\(value)" }
        return (value < 0 ? "-" : "") + "2^\(magnitude.trailingZeroBitCount)"
    }
}
