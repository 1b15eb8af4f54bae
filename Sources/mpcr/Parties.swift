import Bytecode
import CommandLineSupport
import Crypto
import Foundation
import MPCRuntime
import NPY

#if canImport(Glibc)
import Glibc
#endif

/// The parties `mpcr local` started, for its signal handler (which can capture nothing).
nonisolated(unsafe) var localChildren: [pid_t] = [0, 0, 0]

/// Maps runtime errors to the exit codes of the README's command-line contract: peers and networks 3, the rest 1.
func runPartyStep<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as PeerError {
        throw CommandFailure(.peerFailure, error.message)
    } catch let error as ConfigError {
        throw CommandFailure(.userError, error.message)
    } catch let error as BytecodeError {
        throw CommandFailure(.userError, error.message)
    }
}

/// This process's peak resident set size in bytes (Linux reports kilobytes).
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}

func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }

extension Party {
    /// This role's JSON report: times and bytes of setup and of the offline and online
    /// phases, rounds, predictions, per instruction.
    func report(wall: Double, setup: Double, inferences: Int) -> [String: Any] {
        let predicted = program.totalCost
        let layers = program.instructions.enumerated().map { index, instruction -> [String: Any] in
            let measured = self.measured[index]
            return [
                "index": index, "op": instruction.opcode.mnemonic, "source": instruction.source, "seconds": measured.seconds,
                "bytes_sent": measured.bytesSent, "rounds": measured.rounds,
                "predicted_bytes": instruction.cost.online.of(role) + instruction.cost.offline.of(role), "predicted_rounds": instruction.cost.rounds,
            ]
        }
        return [
            "role": role.rawValue, "wall_seconds": wall, "setup_seconds": setup, "inferences": inferences,
            "offline_seconds": phases.offlineSeconds, "online_seconds": phases.onlineSeconds,
            "offline_bytes": phases.offlineBytes, "online_bytes": phases.onlineBytes,
            "predicted_offline_bytes": predicted.offline.of(role) * inferences, "predicted_online_bytes": predicted.online.of(role) * inferences,
            "peak_rss_bytes": peakResidentBytes(),
            "bytes_sent": phases.offlineBytes + phases.onlineBytes + sessionBytes, "session_bytes": sessionBytes,
            "rounds": measured.reduce(0) { $0 + $1.rounds },
            "predicted_bytes": (predicted.online.of(role) + predicted.offline.of(role)) * inferences + (resumed ? 0 : predicted.session.of(role)) + handshakeBytes,
            "resumed": resumed,
            "layers": layers,
        ]
    }
}

extension MPCRParty {
    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let program = try RunInputs.program(self.program)
        let weightFile = role == .server ? try RunInputs.weights(weights, programPath: self.program, for: program) : nil
        let rows = role == .client ? try RunInputs.inferences(input!, for: program).rows : []
        let config = try runPartyStep { try PartiesConfig.read(path: self.config) }
        if let sessionCache { try runPartyStep { try SessionCache.makeDirectory(sessionCache) } }  // before any peer waits on us
        let links = try runPartyStep { try Network.connect(role: role.runtime, config: config, insecure: insecurePlaintext, emulation: try emulateLink.map { try EmulatedLink.parse($0).runtime }) }
        defer { for link in links.values { (link as? TCPLink)?.finish() } }
        let party = Party(role: role.runtime, program: program, weights: weightFile, links: links)
        party.materialMemory = materialMemory << 20
        let setupStart = clock.now
        let cache = sessionCache.map { directory in
            SessionCache(directory: directory, lifetime: sessionLifetime ?? 86_400, programHash: program.hash,
                         publicKeys: Role.allCases.map { config.parties[$0]?.publicKey ?? [] })
        }
        try runPartyStep { try party.setup(cache: cache) }
        let setup = seconds(clock.now - setupStart)
        let (count, ahead) = try announceSession(rows: rows.count, links: links)
        var outputs: [[[Float]]] = []
        try runPartyStep {
            try party.run(inferences: count, preprocess: ahead, input: { role == .client ? rows[$0] : nil }, output: { outputs.append($0) })
        }
        if role == .client {
            try RunInputs.report(outputs: outputs, program: program, to: output, labels: labels)
        }
        if let report {
            let json = party.report(wall: seconds(clock.now - start), setup: setup, inferences: count)
            let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            guard FileManager.default.createFile(atPath: report, contents: data) else { throw CommandFailure(.userError, "cannot write \(report)") }
        }
    }
}

extension MPCRParty {
    /// The client tells the others how many inferences follow and how many of them each
    /// prepares ahead (the client's `--preprocess` holds for the session): two
    /// little-endian 64-bit words.
    func announceSession(rows: Int, links: [Role: Link]) throws -> (count: Int, ahead: Int) {
        try runPartyStep {
            guard role == .client else { return try Party.readAnnouncement(from: links[.client]!) }
            try Party.announce(inferences: rows, ahead: preprocess ?? 1, links: links)
            return (rows, preprocess ?? 1)
        }
    }
}

extension Local {
    /// Starts the three parties as processes on loopback with fresh keys and ports,
    /// waits for them (stopping all if one fails), and prints the summary.
    func run() throws {
        let program = try RunInputs.program(self.program)
        _ = try RunInputs.weights(nil, programPath: self.program, for: program)
        _ = try RunInputs.inferences(input, for: program, quiet: true)  // the client warns
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mpcr-local-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configPath = try writeLocalConfig(in: directory)
        let clock = ContinuousClock()
        let start = clock.now
        try runParties(configPath: configPath, directory: directory)
        try summarize(directory: directory, wall: seconds(clock.now - start))
    }

    /// Fresh keys for the three roles and a parties.json with free loopback ports.
    private func writeLocalConfig(in directory: String) throws -> String {
        var parties: [String: Any] = [:]
        for role in Role.allCases {
            let (key, keyPath) = try localKey(role, directory: directory)
            var entry: [String: Any] = ["host": "127.0.0.1", "public_key": Hex.string(key.publicKey.rawRepresentation), "private_key_file": keyPath]
            if role != .client { entry["port"] = try freePort() }
            parties[role.rawValue] = entry
        }
        let configPath = "\(directory)/parties.json"
        let config: [String: Any] = ["parties": parties, "timeout_seconds": timeout, "connect_timeout_seconds": 30]
        guard FileManager.default.createFile(atPath: configPath, contents: try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])) else {
            throw CommandFailure(.userError, "cannot write \(configPath)")
        }
        return configPath
    }

    /// A fresh key in the run's directory, or with --session-cache the role's key kept
    /// there (made on first use): the session records are bound to the parties' keys.
    private func localKey(_ role: Role, directory: String) throws -> (Curve25519.KeyAgreement.PrivateKey, String) {
        if let sessionCache {
            let path = "\(sessionCache)/\(role.rawValue).key"
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let bytes = Hex.bytes(text.trimmingCharacters(in: .whitespacesAndNewlines)),
               let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes) {
                return (key, path)
            }
            try runPartyStep { try SessionCache.makeDirectory(sessionCache) }
            return (try writeKey(to: path), path)
        }
        let path = "\(directory)/\(role.rawValue).key"
        return (try writeKey(to: path), path)
    }

    private func writeKey(to path: String) throws -> Curve25519.KeyAgreement.PrivateKey {
        let key = Curve25519.KeyAgreement.PrivateKey()
        guard FileManager.default.createFile(atPath: path, contents: Data(Hex.string(key.rawRepresentation).utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CommandFailure(.userError, "cannot write \(path)")
        }
        return key
    }

    /// Spawns `mpcr party` for each role and waits; the first failure stops the others.
    private func runParties(configPath: String, directory: String) throws {
        let executable = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0] : (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var children: [Role: pid_t] = [:]
        // If this process is interrupted, the parties go with it (no orphans).
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            Glibc.signal(signal) { received in
                for index in 0..<3 where localChildren[index] > 0 { kill(localChildren[index], SIGTERM) }
                _exit(128 + received)
            }
        }
        for role in Role.allCases {
            var arguments = ["party", "--role", role.rawValue, "--config", configPath, "--program", self.program, "--report", "\(directory)/\(role.rawValue).json",
                             "--material-memory", String(materialMemory)]
            if role == .server { arguments += ["--weights", WeightFile.path(forProgram: self.program)] }
            if role == .client {
                arguments += ["--input", input, "--preprocess", String(preprocess)]
                if let output { arguments += ["--output", output] }
                if let labels { arguments += ["--labels", labels] }
            }
            if insecurePlaintext { arguments.append("--insecure-plaintext") }
            if let emulateLink { arguments += ["--emulate-link", emulateLink] }
            if let sessionCache {
                arguments += ["--session-cache", "\(sessionCache)/\(role.rawValue)"]
                if role != .client { arguments += ["--session-lifetime", String(sessionLifetime)] }
            }
            children[role] = try spawn(executable, arguments, stdout: role == .client ? nil : "/dev/null")
            localChildren[Role.allCases.firstIndex(of: role)!] = children[role]!
        }
        var failed: (Role, Int32)?
        var remaining = children
        while !remaining.isEmpty {
            var status: Int32 = 0
            let pid = wait(&status)
            guard pid > 0, let role = remaining.first(where: { $0.value == pid })?.key else { continue }
            remaining[role] = nil
            let exited = status & 0x7F == 0
            let code = exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            if code != 0 && failed == nil {
                failed = (role, code)
                for other in remaining.values { kill(other, SIGTERM) }
            }
        }
        if let (role, code) = failed {
            throw CommandFailure(code == 1 ? .userError : .peerFailure, "the \(role.rawValue) stopped with status \(code); the other parties were stopped")
        }
    }

    /// Prints time and bytes per role from the parties' reports, and merges them into
    /// `--report`.
    private func summarize(directory: String, wall: Double) throws {
        var reports: [String: Any] = [:]
        for role in Role.allCases {
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(role.rawValue).json"),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw CommandFailure(.internalError, "the \(role.rawValue) wrote no report") }
            reports[role.rawValue] = json
        }
        let client = reports["client"] as! [String: Any]
        func time(_ key: String) -> Double { ((client[key] as! Double) * 1000).rounded() / 1000 }
        print("three parties \(try emulateLink.map { "on \(try EmulatedLink.parse($0).description) over" } ?? "on") loopback (\(insecurePlaintext ? "plaintext TCP" : "ChaCha20-Poly1305 over TCP")): \((wall * 1000).rounded() / 1000) s wall, setup \(time("setup_seconds")) s\(client["resumed"] as? Bool == true ? " (resumed)" : ""), offline \(time("offline_seconds")) s, online \(time("online_seconds")) s")
        var totalMeasured = 0, totalPredicted = 0
        for role in Role.allCases {
            let report = reports[role.rawValue] as! [String: Any]
            let sent = report["bytes_sent"] as! Int, predicted = report["predicted_bytes"] as! Int
            totalMeasured += sent
            totalPredicted += predicted
            let peak = (report["peak_rss_bytes"] as? Int).map { ", peak RSS \(($0 + (1 << 19)) >> 20) MB" } ?? ""
            let phases = "offline \(report["offline_bytes"] as! Int), online \(report["online_bytes"] as! Int), setup \(report["session_bytes"] as! Int)"
            print("  \(role.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) sent \(sent) bytes (predicted \(predicted); \(phases)), \(report["rounds"] as! Int) rounds\(peak)")
        }
        print("  all parties: \(totalMeasured) bytes (predicted \(totalPredicted))")
        guard let report else { return }
        var merged = reports
        merged["wall_seconds"] = wall
        merged["bytes_sent"] = totalMeasured
        merged["predicted_bytes"] = totalPredicted
        let data = try JSONSerialization.data(withJSONObject: merged, options: [.prettyPrinted, .sortedKeys])
        guard FileManager.default.createFile(atPath: report, contents: data) else { throw CommandFailure(.userError, "cannot write \(report)") }
    }

    /// A port the kernel reports free right now.
    func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 } }
        guard bound else { throw CommandFailure(.peerFailure, "cannot find a free port on loopback") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func spawn(_ path: String, _ arguments: [String], stdout: String?) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdout { posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY, 0) }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let status = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard status == 0 else { throw CommandFailure(.internalError, "cannot start \(path): \(String(cString: strerror(status)))") }
        return pid
    }
}

extension KeyGen {
    func run() throws {
        let key = Curve25519.KeyAgreement.PrivateKey()
        let text = key.rawRepresentation.map { String(format: "%02x", $0) }.joined()
        guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CommandFailure(.userError, "cannot write \(output)")
        }
        print(key.publicKey.rawRepresentation.map { String(format: "%02x", $0) }.joined())
    }
}

extension Bench {
    /// Setup once, then --repeat inferences of the first input (or a random one), each
    /// timed; prints JSON (times in seconds, bytes per role, predicted bytes).
    func run() throws {
        guard let path = self.program else {
            try write(try KernelBench(repeats: `repeat`).json())
            return
        }
        let program = try RunInputs.program(path)
        let weights = try RunInputs.weights(nil, programPath: path, for: program)
        let row: [Float]
        if let input {
            row = try RunInputs.inferences(input, for: program).rows[0]
        } else {
            var generator = SystemRandomNumberGenerator()
            row = (0..<program.instructions[0].elementCount).map { _ in Float.random(in: -1...1, using: &generator) }
        }
        let session = MemorySession(program: program, weights: weights)
        let clock = ContinuousClock()
        let times = TimeBox()
        let (repeats, ahead) = (`repeat`, preprocess)
        try runPartyStep {
            try session.run { party in
                let start = clock.now
                try party.setup()
                if party.role == .client { times.setup = seconds(clock.now - start) }
                // Each run: its offline part (when prepared ahead), then its online part.
                for _ in 0..<repeats {
                    let offlineStart = clock.now
                    try party.preprocess(count: ahead > 0 ? 1 : 0)
                    let begin = clock.now
                    _ = try party.infer(party.role == .client ? row : nil)
                    if party.role == .client {
                        times.offline.append(seconds(begin - offlineStart))
                        times.runs.append(seconds(clock.now - begin))
                    }
                }
            }
        }
        let sorted = times.runs.sorted()
        var roles: [String: Any] = [:]
        for role in Role.allCases {
            let party = session.parties[role]!
            roles[role.rawValue] = [
                "bytes_sent": party.measured.reduce(0) { $0 + $1.bytesSent }, "session_bytes": party.sessionBytes, "rounds": party.measured.reduce(0) { $0 + $1.rounds },
                "offline_bytes": party.phases.offlineBytes / repeats, "online_bytes": party.phases.onlineBytes / repeats,
            ]
        }
        let cost = program.totalCost
        let json: [String: Any] = [
            "program": path, "repeat": repeats, "preprocess": ahead > 0, "setup_seconds": times.setup, "seconds": times.runs, "offline_seconds": times.offline,
            "median_seconds": sorted[sorted.count / 2], "min_seconds": sorted[0], "roles": roles,
            "predicted_bytes": cost.online.total + cost.offline.total, "drelus": cost.drelus, "transport": "in-memory",
        ]
        try write(json)
    }

    /// Prints the JSON and writes it to --report.
    func write(_ json: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        if let report {
            guard FileManager.default.createFile(atPath: report, contents: data) else { throw CommandFailure(.userError, "cannot write \(report)") }
        }
    }
}

/// Timings written by the client's thread, read after all threads finish.
final class TimeBox: @unchecked Sendable {
    var setup = 0.0
    var runs: [Double] = [], offline: [Double] = []
}
