import ArgumentParser
import Bytecode
import CommandLineSupport
import Foundation
import MPCRuntime

#if canImport(Glibc)
import Glibc
#endif

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server or the helper for many client sessions at once, until SIGTERM (which lets running sessions end).")

    @Option(help: "This process's role: server or helper.") var role: RoleOption
    @Option(help: "Hosts, ports, keys, allowed client keys and timeouts (JSON).") var config: String
    @Option(help: "The program (.mpcb).") var program: String
    @Option(help: "The server's weights (.mpcw).") var weights: String?
    @Option(help: "Sessions served at once; a client beyond them is refused with the reason.") var maxSessions = 8
    @Flag(help: "Log each session as one JSON object per line (else one line of text).") var logJSON = false
    @Flag(help: "Send frames unencrypted (local benchmarking only; every host must be a loopback address).") var insecurePlaintext = false
    @Option(help: materialMemoryHelp) var materialMemory = 128
    @Option(help: "Keep session records in DIR so a returning client (same key, same program) resumes without the weight masks (Runtime/PROTOCOLS.md).")
    var sessionCache: String?
    @Option(help: "Seconds a session record is honored (with --session-cache; default one day, at most 30 days).") var sessionLifetime: Double = 86_400

    func validate() throws {
        if role == .client { throw ValidationError("only the server and the helper serve; clients run 'mpcr party --role client'") }
        if role == .server && weights == nil { throw ValidationError("the server needs --weights") }
        if role != .server && weights != nil { throw ValidationError("only the server reads --weights") }
        if !(1...1024).contains(maxSessions) { throw ValidationError("--max-sessions must be between 1 and 1024, got \(maxSessions)") }
        try validateMaterialMemory(materialMemory)
        try validateSessionLifetime(sessionLifetime)
    }

    func run() throws {
        let program = try RunInputs.program(self.program)
        let weightFile = role == .server ? try RunInputs.weights(weights, programPath: self.program, for: program) : nil
        let config = try runPartyStep { try PartiesConfig.read(path: self.config) }
        let json = logJSON
        if let sessionCache { try runPartyStep { try SessionCache.makeDirectory(sessionCache) } }
        let service = try runPartyStep {
            try SessionService(role: role.runtime, config: config, program: program, weights: weightFile, maxSessions: maxSessions,
                               insecure: insecurePlaintext, materialMemory: materialMemory << 20,
                               sessionCache: sessionCache.map { ($0, sessionLifetime) }) { record in
                let line = json ? String(decoding: (try? JSONSerialization.data(withJSONObject: record.json, options: [.sortedKeys])) ?? Data(), as: UTF8.self) : record.line
                FileHandle.standardOutput.write(Data((line + "\n").utf8))
            }
        }
        // SIGTERM and SIGINT drain: no new sessions, the running ones end, then exit 0.
        var sources: [DispatchSourceSignal] = []
        for signal in [SIGTERM, SIGINT] {
            Glibc.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { service.drain() }
            source.resume()
            sources.append(source)
        }
        FileHandle.standardError.write(Data("mpcr: the \(role.rawValue) serves \(self.program) on port \(service.port), at most \(maxSessions) sessions at once\n".utf8))
        service.run()
        FileHandle.standardError.write(Data("mpcr: the \(role.rawValue) stopped after its sessions ended\n".utf8))
        _ = sources
    }
}
