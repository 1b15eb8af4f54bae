import Testing

@testable import Bytecode

@Suite struct DisassemblerTests {
    @Test func oneLinePerInstruction() {
        let program = Fixtures.everyOpcode()
        let text = Disassembler.text(program)
        #expect(text.hasSuffix("\n"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        // Header, weights, instructions, outputs, one line per reveal and total.
        let reveals = program.instructions.filter { $0.opcode == .reveal }.count
        #expect(lines.count == 1 + program.weights.count + program.instructions.count + 1 + reveals + 1)
        for (index, instruction) in program.instructions.enumerated() {
            let matching = lines.filter { $0.hasPrefix("%\(index) = ") }
            #expect(matching.count == 1, "%\(index)")
            guard let line = matching.first else { continue }
            #expect(line.contains(" = \(instruction.opcode.mnemonic)"), "\(line)")
            #expect(line.contains("// \(instruction.source)"), "\(line)")
            #expect(line.contains(" : " + Disassembler.format(instruction.shape)), "\(line)")
            #expect(line.contains(" client") == (instruction.domain == .revealed), "\(line)")
        }
        let instructionLines = lines.filter { $0.hasPrefix("%") }
        #expect(instructionLines.count == program.instructions.count)
        #expect(instructionLines.indices.allSatisfy { instructionLines[$0].hasPrefix("%\($0) = ") })
    }

    @Test func headerWeightsOutputsAndTotal() {
        let program = Fixtures.everyOpcode()
        let lines = Disassembler.text(program).split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("; mpcb format \(Program.formatVersion), ring Z_2^64 (z32: Z_2^32), 12 fractional bits, approximate DReLU on 16 bits, program hash "))
        let hashPrefix = Hex.string(program.hash.prefix(8))
        #expect(hashPrefix.count == 16 && lines[0].contains(hashPrefix + "..."))
        #expect(lines[1] == "; #0 = weight [6,2,3,3] frac 12  // conv1.weight")
        #expect(lines.contains("; outputs: %24, %36, %27, %23, %29, %32"))
        #expect(lines.contains("; the client receives %23 = %22 'fc' [1,10]: 10 values, 80 B, an output"))
        #expect(lines.contains("; the client receives %26 = %21 'upsample' [1,4,3,5]: 60 values, 480 B, read by the client's epilogue"))
        #expect(lines.contains("; the client receives %36 = %25 'argmax' [1]: 1 values, 8 B, an output"))
        #expect(lines.last?.hasPrefix("; total: \(program.totalCost.drelus) DReLUs, ") == true)
        let exact = Disassembler.text(Fixtures.small())
        #expect(exact.hasPrefix("; mpcb format \(Program.formatVersion), ring Z_2^64 (z32: Z_2^32), 8 fractional bits, exact DReLU, "))
    }

    @Test func operandsAndAttributes() {
        let lines = Disassembler.text(Fixtures.everyOpcode()).split(separator: "\n").map(String.init)
        func line(_ register: Int) -> String { lines.first { $0.hasPrefix("%\(register) = ") } ?? "" }
        #expect(line(0) == "%0 = input : [1,4,8,8]  // input")
        #expect(line(1).hasPrefix("%1 = conv %0, #0, #1, strides=[2,1], pads=[1,2,1,0], dilations=[1,2], group=2 : [1,6,4,6]  // conv1, "))
        #expect(line(3).hasPrefix("%3 = conv %0, #6, strides=[2,2], pads=[0,0,0,0], dilations=[1,1], group=1 : [1,4,4,4]  // proj"))
        #expect(line(6).contains("relu %5, bits=16, dropped=8, radix=2 : [1,6,4,6]"))
        #expect(line(6).contains("\(1 * 6 * 4 * 6) DReLUs"))
        #expect(line(7).contains("blocks={id: 1, zero: 1, 1x1: 1, 2x2: 2, 2x3: 1}"))
        #expect(line(19).contains("concat %16, %16, %16, axis=1"))
        #expect(line(21).contains("resize %3, shift=4, rows=<3 taps>, columns=<5 taps> : [1,4,3,5]"))
        #expect(line(23).hasPrefix("%23 = reveal client %22 : [1,10]  // fc"))
        #expect(line(25).contains("argmax %22, axis=1, flags=2, bits=24, dropped=4, radix=2 : [1]"))
        #expect(line(27).contains("resize client %26"))
        #expect(line(12).contains("value=-12345"))
        #expect(line(28) == "%28 = constant #7 : [2,3]  // anchors")
        #expect(line(30).hasPrefix("%30 = reshape client %27 : [4,12]  // client_reshape"))
    }

    /// Costs are printed only when there are any.
    @Test func costAnnotations() {
        let lines = Disassembler.text(Fixtures.small()).split(separator: "\n").map(String.init)
        #expect(lines.first { $0.hasPrefix("%0 = ") } == "%0 = input : [1,2,4,4]  // x")
        let conv = lines.first { $0.hasPrefix("%1 = ") } ?? ""
        #expect(conv.hasSuffix("// conv, \(8 * 32 + 8 * 48) B, 1 rounds"))
    }
}
