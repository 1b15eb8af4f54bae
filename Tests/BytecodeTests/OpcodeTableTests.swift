import TestSupport
import Testing

@testable import Bytecode

/// The instruction set's one definition against its documentation and its two tables.
@Suite struct OpcodeTableTests {
    static let begin = "<!-- opcode table: generated from Sources/Bytecode/Instructions; MPCC_UPDATE_GOLDEN=1 swift test --filter OpcodeTableTests rewrites it -->"
    static let end = "<!-- end of opcode table -->"

    /// Runtime/BYTECODE.md's table is the generated one.
    @Test func documentedTableMatchesTheDefinitions() throws {
        let path = "\(repositoryRoot)/Runtime/BYTECODE.md"
        let text = String(decoding: try #require(readFile(path)), as: UTF8.self)
        let start = try #require(text.firstRange(of: Self.begin), "BYTECODE.md lacks the opcode table marker")
        let stop = try #require(text.firstRange(of: Self.end), "BYTECODE.md lacks the end marker")
        let documented = String(text[start.upperBound..<stop.lowerBound]).trimmingPrefix("\n")
        let generated = OpcodeTable.markdown()
        if getenvString("MPCC_UPDATE_GOLDEN") != nil {
            writeFile(path, Array((text[..<start.upperBound] + "\n" + generated + text[stop.lowerBound...]).utf8))
            return
        }
        #expect(documented == generated, "Runtime/BYTECODE.md's opcode table differs from the definitions")
    }

    /// Each opcode's definition carries that opcode and wraps into an operation of it.
    @Test func tablesAgree() {
        var mnemonics = Set<String>()
        for opcode in Opcode.allCases {
            #expect(opcode.definition.opcode == opcode)
            #expect(opcode.definition.init().operation.opcode == opcode)
            #expect(mnemonics.insert(opcode.mnemonic).inserted, "\(opcode.mnemonic) is used twice")
        }
    }
}

/// The verifier on programs that were never encoded (what the lowering hands it).
@Suite struct InMemoryVerificationTests {
    @Test func acceptsValidProgramsAndRejectsBrokenOnes() throws {
        try ProgramVerifier(Fixtures.everyOpcode()).verify()
        var program = Fixtures.small()
        program.instructions[2].operation = Reveal(2).operation
        #expect(throws: BytecodeError.self) { try ProgramVerifier(program).verify() }
        program = Fixtures.small()
        program.instructions[1].shape = [1, 3, 4, 5]
        #expect(throws: BytecodeError.self) { try ProgramVerifier(program).verify() }
    }
}
