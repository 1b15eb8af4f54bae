import ArgumentParser
import CommandLineSupport
import Foundation
import MPCRuntime

@main
struct MPCR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpcr",
        abstract: "Run an mpcc program with three parties (client, server, helper).",
        subcommands: [Local.self, MPCRParty.self, Serve.self, Emulate.self, Bench.self, Inspect.self, KeyGen.self])

    static func main() { runAsMain() }
}

/// Inferences prepared ahead hold their material in memory: a few at most.
func validatePreprocess(_ count: Int) throws {
    if !(0...16).contains(count) { throw ValidationError("--preprocess must be between 0 and 16, got \(count)") }
}

/// `--emulate-link`: `lan` (1 Gbit/s, 0.5 ms round trip), `wan` (100 Mbit/s, 40 ms) or
/// MBIT,RTT_MS; each direction gets the rate and half the round trip as its delay.
struct EmulatedLink {
    var name: String
    var megabits: Double
    var roundTripMilliseconds: Double

    var runtime: LinkEmulation { LinkEmulation(bitsPerSecond: megabits * 1e6, oneWayDelay: roundTripMilliseconds / 2000) }
    var description: String {
        "emulated \(name) (\(String(format: "%g", megabits)) Mbit/s, \(String(format: "%g", roundTripMilliseconds)) ms RTT)"
    }

    static func parse(_ text: String) throws -> EmulatedLink {
        switch text.lowercased() {
        case "lan": return EmulatedLink(name: "LAN", megabits: 1000, roundTripMilliseconds: 0.5)
        case "wan": return EmulatedLink(name: "WAN", megabits: 100, roundTripMilliseconds: 40)
        default: break
        }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let rate = parts[0], let rtt = parts[1], rate > 0 && rate <= 100_000, rtt >= 0 && rtt <= 10_000 else {
            throw ValidationError("--emulate-link takes lan, wan or MBIT,RTT_MS with a rate above 0 and at most 100000 Mbit/s and a round trip of 0 to 10000 ms, got '\(text)'")
        }
        return EmulatedLink(name: "link", megabits: rate, roundTripMilliseconds: rtt)
    }
}

let sessionCacheHelp: ArgumentHelp = "Keep this party's session record in DIR, so a client that returns within the server's and the helper's --session-lifetime resumes its session without the weight masks (Runtime/PROTOCOLS.md)."

/// Seconds the server and the helper honor a session ticket: up to 30 days.
func validateSessionLifetime(_ seconds: Double) throws {
    if !(seconds > 0 && seconds <= 30 * 86_400) { throw ValidationError("--session-lifetime must be above 0 and at most 2592000 seconds (30 days), got \(seconds)") }
}

let materialMemoryHelp: ArgumentHelp = "MB of one prepared inference's material (the helper's and the client's offline messages) a party keeps in memory; the rest waits in an unlinked temporary file in TMPDIR."

/// --material-memory: 1 MB to 1 TB.
func validateMaterialMemory(_ megabytes: Int) throws {
    if !(1...(1 << 20)).contains(megabytes) { throw ValidationError("--material-memory must be between 1 and 1048576 MB, got \(megabytes)") }
}

let emulateLinkHelp: ArgumentHelp = "Emulate a network on every link (benchmarks): lan (1000 Mbit/s, 0.5 ms RTT), wan (100 Mbit/s, 40 ms RTT) or MBIT,RTT_MS, e.g. 100,40."

/// The role a process plays in the protocol.
enum RoleOption: String, ExpressibleByArgument, CaseIterable {
    case client, server, helper
    var runtime: Role { Role(rawValue: rawValue)! }
}

struct Local: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run all three parties on this machine over loopback TCP.")

    @Argument(help: "The program (.mpcb; the .mpcw beside it holds the weights).") var program: String
    @Option(help: "Input array (float32 .npy).") var input: String
    @Option(help: "Where to write the output (float32 .npy).") var output: String?
    @Option(help: "Write times, bytes and rounds per party and layer as JSON.") var report: String?
    @Option(help: "Class labels of the inputs (int64 .npy): print the accuracy.") var labels: String?
    @Option(help: "Seconds a party waits for a message before giving up.") var timeout: Double = 30
    @Flag(help: "Send frames unencrypted (local benchmarking only).") var insecurePlaintext = false
    @Option(help: "Inferences whose input-independent part (the helper's material, the client's products with masks) each party prepares before the input is used; 0 interleaves them with the online phase.")
    var preprocess = 1
    @Option(help: emulateLinkHelp) var emulateLink: String?
    @Option(help: "Keep the three parties' keys and session records under DIR: a later run with the same DIR and program resumes the session (no weight masks).")
    var sessionCache: String?
    @Option(help: "Seconds the server and the helper honor a session record (with --session-cache).") var sessionLifetime: Double = 86_400
    @Option(help: materialMemoryHelp) var materialMemory = 128

    func validate() throws {
        try validatePreprocess(preprocess)
        try validateMaterialMemory(materialMemory)
        try validateSessionLifetime(sessionLifetime)
        if let emulateLink { _ = try EmulatedLink.parse(emulateLink) }
        if !(timeout > 0 && timeout <= 86_400) { throw ValidationError("--timeout must be between 0 and 86400 seconds, got \(timeout)") }
    }
}

struct MPCRParty: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "party", abstract: "Run one party of a multi-host run.")

    @Option(help: "This process's role.") var role: RoleOption
    @Option(help: "Hosts, ports, keys and timeouts of the three parties (JSON).") var config: String
    @Option(help: "The program (.mpcb).") var program: String
    @Option(help: "The server's weights (.mpcw).") var weights: String?
    @Option(help: "The client's input (float32 .npy).") var input: String?
    @Option(help: "Where the client writes the output (float32 .npy).") var output: String?
    @Option(help: "Write times, bytes and rounds as JSON.") var report: String?
    @Option(help: "Class labels of the client's inputs (int64 .npy): print the accuracy.") var labels: String?
    @Flag(help: "Send frames unencrypted (local benchmarking only; all three must agree).") var insecurePlaintext = false
    @Option(help: "Inferences whose input-independent part (the helper's material, the client's products with masks) each party prepares before the input is used; 0 interleaves them with the online phase.")
    var preprocess: Int?
    @Option(help: emulateLinkHelp) var emulateLink: String?
    @Option(help: sessionCacheHelp) var sessionCache: String?
    @Option(help: "Seconds the server and the helper honor a session record they issued (with --session-cache; default one day).")
    var sessionLifetime: Double?
    @Option(help: materialMemoryHelp) var materialMemory = 128

    func validate() throws {
        try validatePreprocess(preprocess ?? 1)
        try validateMaterialMemory(materialMemory)
        try validateSessionLifetime(sessionLifetime ?? 86_400)
        if role == .client && sessionLifetime != nil { throw ValidationError("only the server and the helper set --session-lifetime (they honor the records)") }
        if let emulateLink { _ = try EmulatedLink.parse(emulateLink) }
        if role != .client && preprocess != nil { throw ValidationError("only the client sets --preprocess (the server and the helper follow it)") }
        if role == .server && weights == nil { throw ValidationError("the server needs --weights") }
        if role == .client && input == nil { throw ValidationError("the client needs --input") }
        if role != .server && weights != nil { throw ValidationError("only the server reads --weights") }
        if role != .client && (input != nil || output != nil) {
            throw ValidationError("only the client reads --input and writes --output")
        }
    }

}

struct Emulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a program in plaintext fixed point (the parties' arithmetic, no crypto).")

    @Argument(help: "The program (.mpcb).") var program: String
    @Option(help: "Input array (float32 .npy).") var input: String
    @Option(help: "Where to write the output (float32 .npy).") var output: String?
    @Option(help: "Class labels of the inputs (int64 .npy): print the accuracy.") var labels: String?
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark a program: three parties as threads of this process (in-memory links); JSON results.")

    @Argument(help: "The program (.mpcb); not with --kernels.") var program: String?
    @Option(help: "Input array (float32 .npy); random if absent.") var input: String?
    @Option(help: "Runs to time.") var `repeat`: Int = 3
    @Option(help: "Write the results as JSON.") var report: String?
    @Flag(help: "Time the ring GEMM kernels against a plain loop and the machine's multiply-add peak instead of a program.")
    var kernels = false
    @Option(help: "Inferences whose input-independent part (the helper's material, the client's products with masks) each party prepares before the input is used; 0 interleaves them with the online phase.")
    var preprocess = 1

    func validate() throws {
        try validatePreprocess(preprocess)
        if `repeat` < 1 { throw ValidationError("--repeat must be at least 1") }
        if kernels == (program != nil) { throw ValidationError("give a program or --kernels (not both)") }
        if kernels, input != nil { throw ValidationError("--input goes with a program, not with --kernels") }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Disassemble a program (.mpcb).")

    @Argument(help: "The program (.mpcb).") var program: String
}

struct KeyGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen", abstract: "Write a new X25519 private key for parties.json and print its public key.")

    @Argument(help: "Where to write the private key (hex; keep it on this host only).") var output: String
}
