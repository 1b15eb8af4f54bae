import Foundation
import NPY
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A started executable whose output goes to files.
struct Started {
    var pid: pid_t
    var stdout: String
    var stderr: String

    /// Exit status, or nil if it is still running after `seconds`.
    func wait(seconds: Double) -> Int32? {
        let deadline = Double(time(nil)) + seconds
        while Double(time(nil)) <= deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F) }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return nil
    }
}

/// Starts one of the package's executables (in a network namespace with `ip netns exec`).
func start(_ tool: String, _ arguments: [String], in directory: String, name: String, namespace: String? = nil) -> Started {
    let out = "\(directory)/\(name).out", err = "\(directory)/\(name).err"
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let executable = "\(binaryDirectory)/\(tool)"
    let path = namespace == nil ? executable : ipTool!
    let prefix = namespace.map { [path, "netns", "exec", $0, executable] } ?? [path]
    let argv = (prefix + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid = pid_t()
    posix_spawn(&pid, path, &actions, nil, argv, environ)
    return Started(pid: pid, stdout: out, stderr: err)
}

/// mpcr local, mpcr party and mpcr bench through the executables, with faults.
@Suite(.serialized) struct PartyCommandTests {
    let input = "\(repositoryRoot)/Models/tiny_resnet/input.npy"

    /// tiny_resnet compiled, with a block plan from a small synthetic calibration when
    /// `planned`.
    func compiled(planned: Bool = false) throws -> (directory: String, program: String) {
        let directory = temporaryDirectory()
        let program = "\(directory)/tiny.mpcb"
        let planning = planned ? ["--budget", "0.2", "--distortion", "fast", "--fast-samples", "4"] : []
        let result = try run("mpcc", [model("tiny_resnet"), "-o", program] + planning)
        #expect(result.status == 0, "\(result.stderr)")
        return (directory, program)
    }

    /// A parties.json for loopback with fresh keys; `mismatch` gives the client a wrong
    /// public key for the server.
    func config(_ directory: String, ports: (Int, Int), mismatch: Bool = false, timeout: Double = 10) throws -> (server: String, client: String) {
        var keys: [String: String] = [:]
        for role in ["client", "server", "helper", "stranger"] {
            let result = try run("mpcr", ["keygen", "\(directory)/\(role).key"])
            #expect(result.status == 0, "\(result.stderr)")
            keys[role] = String(result.stdout.filter { $0.isHexDigit })
        }
        func json(serverKey: String) -> String {
            """
            {"timeout_seconds": \(timeout), "connect_timeout_seconds": 5, "parties": {
              "client": {"host": "127.0.0.1", "public_key": "\(keys["client"]!)", "private_key_file": "client.key"},
              "server": {"host": "127.0.0.1", "port": \(ports.0), "public_key": "\(serverKey)", "private_key_file": "server.key"},
              "helper": {"host": "127.0.0.1", "port": \(ports.1), "public_key": "\(keys["helper"]!)", "private_key_file": "helper.key"}}}
            """
        }
        writeFile("\(directory)/parties.json", Array(json(serverKey: keys["server"]!).utf8))
        writeFile("\(directory)/client.json", Array(json(serverKey: mismatch ? keys["stranger"]! : keys["server"]!).utf8))
        return ("\(directory)/parties.json", "\(directory)/client.json")
    }

    func ports() -> (Int, Int) {
        let base = 20000 + Int(getpid() % 20000)
        return (base + Int.random(in: 0..<5000), base + 5000 + Int.random(in: 0..<5000))
    }

    @Test func localRunMatchesTheEmulatorAndPredictsItsBytes() throws {
        let (directory, program) = try compiled(planned: true)
        let result = try run("mpcr", ["local", program, "--input", input, "--output", "\(directory)/out.npy", "--report", "\(directory)/r.json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("input 1: class"))
        #expect(result.stdout.contains("ChaCha20-Poly1305"))
        let all = result.stdout.split(separator: "\n").first { $0.contains("all parties:") }.map(String.init) ?? ""
        let numbers = all.split(whereSeparator: { !$0.isNumber }).map(String.init)
        #expect(numbers.count == 2 && numbers[0] == numbers[1], "measured and predicted bytes differ: \(all)")
        let emulated = try run("mpcr", ["emulate", program, "--input", input, "--output", "\(directory)/emu.npy"])
        #expect(emulated.status == 0)
        let secure = try NPYArray.read(path: "\(directory)/out.npy").floats, plain = try NPYArray.read(path: "\(directory)/emu.npy").floats
        #expect(zip(secure, plain).allSatisfy { abs($0 - $1) < 0.05 })
        let report = contents("\(directory)/r.json")
        for key in ["wall_seconds", "setup_seconds", "offline_seconds", "online_seconds", "offline_bytes", "online_bytes", "predicted_offline_bytes", "bytes_sent", "rounds", "predicted_bytes", "peak_rss_bytes", "layers", "\"client\"", "\"server\"", "\"helper\""] {
            #expect(report.contains(key), "report lacks \(key)")
        }
        // Each phase's bytes are the cost model's: the helper's all offline, the others' online.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Any])
        for role in ["client", "server", "helper"] {
            let party = try #require(json[role] as? [String: Any])
            #expect(party["offline_bytes"] as? Int == party["predicted_offline_bytes"] as? Int, "\(role): offline bytes")
            #expect(party["online_bytes"] as? Int == party["predicted_online_bytes"] as? Int, "\(role): online bytes")
        }
        #expect((json["helper"] as? [String: Any])?["online_bytes"] as? Int == 0)
    }

    @Test func preprocessIsTheClientsChoice() throws {
        let refused = try run("mpcr", ["party", "--role", "server", "--config", "p.json", "--program", "p.mpcb", "--weights", "p.mpcw", "--preprocess", "2"])
        #expect(refused.status != 0 && refused.stderr.contains("only the client sets --preprocess"))
        let tooMany = try run("mpcr", ["local", "p.mpcb", "--input", input, "--preprocess", "17"])
        #expect(tooMany.status != 0 && tooMany.stderr.contains("--preprocess must be between 0 and 16"))
    }

    /// Every whole model over TCP (encrypted) agrees with the emulator; so do the SiLU
    /// model (with --approx-sigmoid) and models ending in ArgMax and in a Slice after
    /// the last comparison.
    @Test(arguments: wholeModels + ["tiny_efficientnet", "ops/argmax_final", "ops/slice_after_relu"])
    func wholeModelsOverTCPMatchTheEmulator(_ fixture: String) throws {
        let directory = temporaryDirectory()
        let program = "\(directory)/p.mpcb"
        let fixtureInput = "\(repositoryRoot)/Models/\(fixture)/input.npy"
        let options = ["--keep-maxpool", "--keep-relu6"] + (fixture == "tiny_efficientnet" ? ["--approx-sigmoid"] : [])
        #expect(try run("mpcc", [model(fixture)] + options + ["-o", program]).status == 0)
        // Offline and online interleaved, each inference prepared, or two ahead.
        let ahead = String(fixture.count % 3)
        let secure = try run("mpcr", ["local", program, "--input", fixtureInput, "--output", "\(directory)/secure.npy", "--preprocess", ahead])
        #expect(secure.status == 0, "\(fixture): \(secure.stderr)")
        #expect(try run("mpcr", ["emulate", program, "--input", fixtureInput, "--output", "\(directory)/plain.npy"]).status == 0)
        let a = try NPYArray.read(path: "\(directory)/secure.npy").floats, b = try NPYArray.read(path: "\(directory)/plain.npy").floats
        let scale = max(b.reduce(0) { max($0, abs($1)) }, 1)
        let error = zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(a.count == b.count && error <= 0.01 * scale, "\(fixture): TCP run differs from the emulator by \(error)")
    }

    @Test func benchPrintsJSON() throws {
        let (_, program) = try compiled()
        let result = try run("mpcr", ["bench", program, "--repeat", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"median_seconds\""))
    }

    /// --kernels times the GEMM kernels against the plain loop and the peak; it takes no
    /// program (and a program no --kernels).
    @Test func benchKernelsPrintsRatesAgainstThePeak() throws {
        let directory = temporaryDirectory()
        let result = try run("mpcr", ["bench", "--kernels", "--repeat", "1", "--report", "\(directory)/k.json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contents("\(directory)/k.json").utf8)) as? [String: Any])
        let peaks = try #require(json["peak_gmacs"] as? [String: Double])
        #expect(["z64", "z32", "z64_all_cores", "z32_all_cores"].allSatisfy { (peaks[$0] ?? 0) > 0 })
        let rows = try #require(json["gemm"] as? [[String: Any]])
        #expect(rows.count == 6)
        for row in rows {
            for key in ["gemm", "gemm_parallel", "plain_loop", "share_of_peak"] { #expect((row[key] as? Double ?? 0) > 0, "\(key) in \(row)") }
        }
        let (_, program) = try compiled()
        #expect(try run("mpcr", ["bench", program, "--kernels"]).status != 0)
        #expect(try run("mpcr", ["bench"]).stderr.contains("give a program or --kernels"))
    }

    @Test func partiesFromAConfigFileAndAWrongKey() throws {
        let (directory, program) = try compiled()
        let (serverConfig, clientConfig) = try config(directory, ports: ports(), mismatch: true)
        let server = party("server", config: serverConfig, program: program, in: directory)
        let helper = party("helper", config: serverConfig, program: program, in: directory)
        let client = party("client", config: clientConfig, program: program, in: directory, input: input)
        // The client holds a wrong public key for the server: the key confirmation fails.
        #expect(client.wait(seconds: 20) == 3)
        #expect(contents(client.stderr).contains("different key"), "\(contents(client.stderr))")
        #expect(server.wait(seconds: 20) == 3)
        #expect(helper.wait(seconds: 20) == 3)
    }

    @Test func aMissingPeerEndsEveryoneWithinTheTimeout() throws {
        let (directory, program) = try compiled()
        let (serverConfig, _) = try config(directory, ports: ports())
        // No helper: the client cannot reach it, the server waits for it in vain.
        let server = party("server", config: serverConfig, program: program, in: directory)
        let client = party("client", config: serverConfig, program: program, in: directory, input: input)
        #expect(client.wait(seconds: 20) == 3)
        #expect(contents(client.stderr).contains("helper"), "\(contents(client.stderr))")
        #expect(server.wait(seconds: 20) == 3)
    }

    @Test func aPeerKilledMidRunStopsTheOthers() throws {
        let (directory, program) = try compiled()
        let (serverConfig, _) = try config(directory, ports: ports(), timeout: 5)
        let server = party("server", config: serverConfig, program: program, in: directory)
        let helper = party("helper", config: serverConfig, program: program, in: directory)
        // Many inferences, so the run is still going when the server dies (the server waits
        // for the client every inference; the helper never waits and may finish early).
        let many = NPYArray(shape: [256, 3, 32, 32], float32: (0..<(256 * 3 * 32 * 32)).map { Float($0 % 17) / 17 })
        try many.write(path: "\(directory)/many.npy")
        let client = party("client", config: serverConfig, program: program, in: directory, input: "\(directory)/many.npy")
        usleep(1_500_000)
        kill(server.pid, SIGKILL)
        _ = server.wait(seconds: 5)
        #expect(client.wait(seconds: 20) == 3, "\(contents(client.stderr))")
        #expect(contents(client.stderr).contains("server"), "\(contents(client.stderr))")
        _ = helper.wait(seconds: 20)
    }

    @Test func aStalledPeerTimesOut() throws {
        let (directory, program) = try compiled()
        let (serverConfig, _) = try config(directory, ports: ports(), timeout: 3)
        let server = party("server", config: serverConfig, program: program, in: directory)
        let helper = party("helper", config: serverConfig, program: program, in: directory)
        let many = NPYArray(shape: [256, 3, 32, 32], float32: (0..<(256 * 3 * 32 * 32)).map { Float($0 % 13) / 13 })
        try many.write(path: "\(directory)/many.npy")
        let client = party("client", config: serverConfig, program: program, in: directory, input: "\(directory)/many.npy")
        usleep(1_500_000)
        kill(server.pid, SIGSTOP)  // alive but silent
        #expect(client.wait(seconds: 20) == 3)
        #expect(contents(client.stderr).contains("sent nothing for 3 s"), "\(contents(client.stderr))")
        kill(server.pid, SIGKILL)
        _ = server.wait(seconds: 5)
        _ = helper.wait(seconds: 20)
    }

    @Test func partiesWithDifferentProgramsStop() throws {
        let (directory, program) = try compiled()
        let other = "\(directory)/other.mpcb"
        #expect(try run("mpcc", [model("tiny_resnet_avgpool"), "-o", other]).status == 0)
        let (serverConfig, _) = try config(directory, ports: ports())
        let server = party("server", config: serverConfig, program: program, in: directory)
        let helper = party("helper", config: serverConfig, program: other, in: directory)
        let client = party("client", config: serverConfig, program: program, in: directory, input: input)
        #expect(client.wait(seconds: 20) == 3)
        #expect(contents(client.stderr).contains("different program"), "\(contents(client.stderr))")
        #expect(server.wait(seconds: 20) == 3)
        #expect(helper.wait(seconds: 20) == 3)
    }

    @Test func aPortInUseIsReported() throws {
        let (directory, program) = try compiled()
        let ports = ports()
        let (serverConfig, _) = try config(directory, ports: ports)
        let blocker = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = in_port_t(UInt16(ports.0).bigEndian)
        address.sin6_addr = in6addr_any
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(blocker, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        listen(blocker, 1)
        defer { close(blocker) }
        let server = party("server", config: serverConfig, program: program, in: directory)
        #expect(server.wait(seconds: 20) == 3)
        #expect(contents(server.stderr).contains("cannot listen on port \(ports.0)"), "\(contents(server.stderr))")
    }

    @Test func garbageFromAPeerIsAProtocolError() throws {
        let (directory, program) = try compiled()
        let (serverConfig, _) = try config(directory, ports: ports())
        // A "server" that answers the client's hello with junk.
        let port = try portOf(serverConfig, role: "server")
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(listener, 4)
        defer { close(listener) }
        let client = party("client", config: serverConfig, program: program, in: directory, input: input)
        let connection = accept(listener, nil, nil)
        let garbage: [UInt8] = [12, 0, 0, 0] + Array("not a hello!".utf8)
        _ = garbage.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, 0) }
        #expect(client.wait(seconds: 20) == 3)
        #expect(contents(client.stderr).contains("malformed"), "\(contents(client.stderr))")
        close(connection)
    }

    /// Starts one party of tiny.mpcb in `directory` (the server with its weights).
    func party(_ role: String, config: String, program: String, in directory: String, input: String? = nil) -> Started {
        var arguments = ["party", "--role", role, "--config", config, "--program", program]
        if role == "server" { arguments += ["--weights", "\(directory)/tiny.mpcw"] }
        if let input { arguments += ["--input", input] }
        return start("mpcr", arguments, in: directory, name: role)
    }

    func portOf(_ config: String, role: String) throws -> Int {
        let text = contents(config)
        let line = String(text.split(separator: "\n").first { $0.contains("\"\(role)\"") }!)
        let after = line.split(separator: "\"port\": ")[1]
        return Int(after.prefix { $0.isNumber })!
    }
}
