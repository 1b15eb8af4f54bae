/// Predicted traffic of every instruction under the runtime's protocols
/// (Runtime/PROTOCOLS.md). The compiler stores these figures in the program and the
/// runtime counts the same payload bytes, so predicted and measured can be compared.
///
/// Values are ring elements of their register's ring (8 bytes in Z_2^64, 4 in Z_2^32);
/// bit vectors are packed 64 values per 8-byte word.
public enum CostModel {
    public static let word = 8

    /// Bytes of a vector of `n` bits.
    static func bitBytes(_ n: Int) -> Int { (n + 63) / 64 * word }

    /// Bytes of a 128-bit seed.
    public static let seedBytes = 16

    /// Whether the selection's oblivious transfers for a value with `pixels` pixels take
    /// one seed, stretched over its pixels, instead of a ring word per pixel: when that
    /// sends fewer bytes.
    public static func selectsBySeed(pixels: Int, ring: Ring) -> Bool { pixels * ring.bytes > seedBytes }

    /// Signs of `values` shared values (or patch sums), then `pixels` shared values each
    /// multiplied by its value's or patch's sign bit; arithmetic words in `ring`.
    /// `seeded`: the values that select by seed (`selectsBySeed`) and their pixels.
    public static func signAndSelect(values: Int, pixels: Int, seeded: (values: Int, pixels: Int) = (0, 0), comparison: Comparison, ring: Ring) -> Cost {
        let element = ring.bytes
        var cost = Cost()
        guard values > 0 else { return cost }
        let circuit = ComparisonCircuit(bits: comparison.bits, radix: comparison.radix)
        // Per party: every AND opening of the circuit, then in the last round its bit
        // xor choice mask and its oblivious-transfer word per pixel.
        let perParty = circuit.openingsPerParty * bitBytes(values) + bitBytes(values) + element * pixels
        cost.online = RoleBytes(client: perParty, server: perParty)
        // Helper: triple shares for the circuit (to the server), and to each party its
        // chosen keys: a word per pixel, or a seed per seeded value.
        let keys = element * (pixels - seeded.pixels) + seedBytes * seeded.values
        cost.offline = RoleBytes(helper: circuit.helperBits * bitBytes(values) + 2 * keys)
        cost.helperToClient = keys
        cost.rounds = 1 + circuit.levels.count + 1
        cost.drelus = values
        return cost
    }

    /// The cost of one instruction of `program`: its definition's formula.
    public static func cost(of instruction: Instruction, in program: Program) -> Cost {
        instruction.operation.definition.cost(CostContext(program: program, shape: instruction.shape, domain: instruction.domain))
    }

    /// A linear layer with the server's weights: the client sends its share minus a
    /// mask once (input-sized), the helper sends the server a masked product of masks
    /// (output-sized), and the client receives the masked weights once per session.
    static func linear(_ context: CostContext, x: Int, weight: Int) -> Cost {
        var cost = Cost()
        cost.online = RoleBytes(client: context.element * context.elements(x))
        cost.offline = RoleBytes(helper: context.element * context.elementCount)
        cost.session = RoleBytes(server: word * context.program.weights[weight].elementCount)
        cost.rounds = 1
        return cost
    }

    /// Sets every instruction's cost.
    public static func annotate(_ program: inout Program) {
        for index in program.instructions.indices {
            program.instructions[index].cost = cost(of: program.instructions[index], in: program)
        }
    }
}

/// What an instruction's cost formula sees: its result's shape and the program.
public struct CostContext {
    let program: Program
    /// The result's shape and domain.
    public let shape: [Int]
    public let domain: Domain
    public var elementCount: Int { shape.reduce(1, *) }
    /// Elements of a register.
    public func elements(_ register: Int) -> Int { program.instructions[register].elementCount }
    /// The result's ring (Z_2^64 for revealed results).
    public var ring: Ring { domain.ring ?? .z64 }
    /// Bytes of one element of the result's ring.
    public var element: Int { ring.bytes }
    /// Bytes of one element of a register's ring.
    public func element(_ register: Int) -> Int { (program.instructions[register].domain.ring ?? .z64).bytes }
}
