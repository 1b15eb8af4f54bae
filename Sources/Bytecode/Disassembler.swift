import SharedKernels
/// Text form of a program: a header, the weight table, then one instruction per line
/// with its result register, shape, operands, attributes, source layer and cost.
public enum Disassembler {
    public static func text(_ program: Program) -> String {
        let hash = Hex.string(program.hash.prefix(8))
        var lines = [
            "; mpcb format \(Program.formatVersion), ring Z_2^64 (z32: Z_2^32), \(program.fracBits) fractional bits, "
                + (program.approxDReLUBits == 0 ? "exact DReLU" : "approximate DReLU on \(program.approxDReLUBits) bits")
                + ", program hash \(hash)...",
        ]
        if let range = program.inputRange { lines.append("; input clamped to [\(range.lowerBound), \(range.upperBound)]") }
        for (index, weight) in program.weights.enumerated() {
            lines.append("; #\(index) = weight \(format(weight.shape)) frac \(weight.fracBits)  // \(weight.name)")
        }
        for (index, instruction) in program.instructions.enumerated() {
            var printer = FieldPrinter()
            instruction.operation.visitFields(&printer)
            let domain = instruction.domain == .revealed ? " client" : instruction.domain == .shared32 ? " z32" : ""
            var line = "%\(index) = \(instruction.opcode.mnemonic)\(domain)"
            if !printer.parts.isEmpty { line += " " + printer.parts.joined(separator: ", ") }
            line += " : \(format(instruction.shape))"
            line += "  // \(instruction.source)"
            let cost = instruction.cost
            if cost.drelus > 0 { line += ", \(cost.drelus) DReLUs" }
            if cost.perInferenceBytes > 0 { line += ", \(cost.perInferenceBytes) B, \(cost.rounds) rounds" }
            lines.append(line)
        }
        lines.append("; outputs: " + program.outputs.map { "%\($0)" }.joined(separator: ", "))
        lines += received(program).map { "; " + $0 }
        let total = program.totalCost
        lines.append("; total: \(total.drelus) DReLUs, \(total.rounds) rounds, \(total.online.total) B online + \(total.offline.total) B offline per inference, \(total.session.total) B per session")
        return lines.joined(separator: "\n") + "\n"
    }

    /// What the client receives, one line per reveal: the register, its shape, values and
    /// bytes, and whether it is an output or feeds the client's epilogue.
    public static func received(_ program: Program) -> [String] {
        let instructions = program.instructions
        return instructions.indices.compactMap { index in
            guard case .reveal(let reveal) = instructions[index].operation else { return nil }
            let x = instructions[reveal.x], count = instructions[index].elementCount
            let bytes = count * (x.domain.ring ?? .z64).bytes
            let use = program.outputs.contains(index) ? "an output" : "read by the client's epilogue"
            return "the client receives %\(index) = %\(reveal.x) '\(x.source)' \(format(x.shape)): \(count) values, \(bytes) B, \(use)"
        }
    }

    static func format(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ",") + "]" }
}

/// Prints fields as `%register`, `#weight` and `name=value`.
struct FieldPrinter: FieldVisitor {
    var parts: [String] = []

    mutating func operand(_ name: String, _ value: inout Int) { parts.append("%\(value)") }
    mutating func operands(_ name: String, _ value: inout [Int]) { parts.append(contentsOf: value.map { "%\($0)" }) }
    mutating func weight(_ name: String, _ value: inout Int) { parts.append("#\(value)") }
    mutating func optionalWeight(_ name: String, _ value: inout Int?) { if let value { parts.append("#\(value)") } }
    mutating func integer(_ name: String, _ value: inout Int, _ range: ClosedRange<Int>) { parts.append("\(name)=\(value)") }
    mutating func integers(_ name: String, _ value: inout [Int], count: ClosedRange<Int>, _ range: ClosedRange<Int>) {
        parts.append("\(name)=" + Disassembler.format(value))
    }
    mutating func blocks(_ name: String, _ value: inout [BlockSize]) {
        // A histogram: per-channel lists of thousands of channels are unreadable.
        var counts: [BlockSize: Int] = [:]
        for block in value { counts[block, default: 0] += 1 }
        let sorted = counts.sorted { ($0.key.height * $0.key.width, $0.key.height) < ($1.key.height * $1.key.width, $1.key.height) }
        parts.append("\(name)={" + sorted.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}")
    }
    mutating func taps(_ name: String, _ value: inout [ResizeTap]) { parts.append("\(name)=<\(value.count) taps>") }
}
