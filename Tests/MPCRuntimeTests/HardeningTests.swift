import Bytecode
import Crypto
import Foundation
import Testing

@testable import MPCRuntime

/// The transport against hostile connections (Runtime/PROTOCOLS.md, "Faults"): each case
/// was a real failure before. A listening party drops a bad connection and keeps
/// accepting; frames have deadlines and their lengths are checked before their bodies.
@Suite(.serialized) struct HardeningTests {
    /// Keys for the three roles and a parties.json on 127.0.0.1 with a free port for the
    /// server and the helper.
    static func makeConfig(timeout: Double = 10, connectTimeout: Double = 8, host: String = "127.0.0.1") throws -> (PartiesConfig, [Role: Curve25519.KeyAgreement.PrivateKey]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mpcr-hardening-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var parties: [String: Any] = [:], keys: [Role: Curve25519.KeyAgreement.PrivateKey] = [:]
        for role in Role.allCases {
            let key = Curve25519.KeyAgreement.PrivateKey()
            keys[role] = key
            try Hex.string(key.rawRepresentation).write(toFile: "\(directory)/\(role.rawValue).key", atomically: true, encoding: .utf8)
            var entry: [String: Any] = ["host": host, "public_key": Hex.string(key.publicKey.rawRepresentation), "private_key_file": "\(role.rawValue).key"]
            if role != .client { entry["port"] = try Listener(host: "127.0.0.1", port: 0).port }
            parties[role.rawValue] = entry
        }
        let json: [String: Any] = ["parties": parties, "timeout_seconds": timeout, "connect_timeout_seconds": connectTimeout]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: "\(directory)/parties.json"))
        return (try PartiesConfig.read(path: "\(directory)/parties.json"), keys)
    }

    /// A framed connection to the server of `config`.
    static func connection(_ config: PartiesConfig) throws -> TCPLink {
        try TCPLink.connect(host: "127.0.0.1", port: config.parties[.server]!.port!, peerName: "server", deadline: 5, timeout: 5)
    }

    /// A plain socket connected to 127.0.0.1:port (retried for up to 5 s while the party
    /// starts listening), written to byte by byte.
    static func rawSocket(port: Int) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        for _ in 0..<100 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            let status = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            if status == 0 { return fd }
            close(fd)
            usleep(50_000)
        }
        return -1
    }

    static func sendRaw(_ fd: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Runs `body` on a thread; `wait` returns its result.
    final class Background<T>: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var result: Result<T, any Error>?
        init(_ body: @escaping @Sendable () throws -> T) {
            Thread { [self] in
                result = Result { try body() }
                done.signal()
            }.start()
        }
        func wait() throws -> T {
            done.wait()
            return try result!.get()
        }
    }

    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    /// Junk (a length header of 2 GB where a 71-byte hello belongs), a hello of the wrong
    /// version, a silent connection and a peer with a wrong key are each dropped with a
    /// log line; the client and the helper still connect, after all of them.
    @Test func badConnectionsAreDroppedAndThePeersStillConnect() throws {
        let (config, _) = try Self.makeConfig(connectTimeout: 10)
        let log = Log()
        let server = Background { try Network.connect(role: .server, config: config, insecure: false, log: log.append) }
        let port = config.parties[.server]!.port!
        let junk = Self.rawSocket(port: port)
        Self.sendRaw(junk, [0xFF, 0xFF, 0xFF, 0x7F] + [UInt8](repeating: 0x41, count: 64))
        let oldVersion = try Self.connection(config)
        try oldVersion.send(Array("MPCR".utf8) + [1, 0, 1] + [UInt8](repeating: 9, count: 32))
        let silent = Self.rawSocket(port: port)
        // A "helper" with a key the server does not know.
        var stranger = config
        let strangerKey = Curve25519.KeyAgreement.PrivateKey()
        let strangerFile = FileManager.default.temporaryDirectory.appendingPathComponent("mpcr-stranger-\(UUID().uuidString).key").path
        try Hex.string(strangerKey.rawRepresentation).write(toFile: strangerFile, atomically: true, encoding: .utf8)
        stranger.parties[.helper]!.publicKey = Array(strangerKey.publicKey.rawRepresentation)
        stranger.parties[.helper]!.privateKeyFile = strangerFile
        let impostorConfig = stranger
        let impostor = Background { try Network.connect(role: .helper, config: impostorConfig, insecure: false, log: { _ in }) }
        #expect(throws: PeerError.self) { _ = try impostor.wait() }
        usleep(300_000)
        let helper = Background { try Network.connect(role: .helper, config: config, insecure: false) }
        let client = try Network.connect(role: .client, config: config, insecure: false)
        let serverLinks = try server.wait()
        let helperLinks = try helper.wait()
        #expect(Set(serverLinks.keys) == [.client, .helper] && Set(client.keys) == [.server, .helper])
        // The links work: one frame each way between the client and the server.
        try client[.server]!.send([1, 2, 3])
        #expect(try serverLinks[.client]!.receive() == [1, 2, 3])
        // The drops are logged as their handshake threads end: wait for them (bounded).
        for _ in 0..<50 where log.all.count < 3 { usleep(100_000) }
        let lines = log.all
        #expect(lines.filter { $0.hasPrefix("dropped a connection from 127.0.0.1:") }.count >= 3, "\(lines)")
        #expect(lines.contains { $0.contains("expects at most 71") }, "\(lines)")
        #expect(lines.contains { $0.contains("malformed hello") }, "\(lines)")
        #expect(lines.contains { $0.contains("different key") }, "\(lines)")
        #expect(lines.contains { $0.contains("malformed session name") } == false)
        oldVersion.close()
        for fd in [junk, silent] { close(fd) }
        for links in [serverLinks, helperLinks, client] { for link in links.values { link.close() } }
    }

    /// A peer that has sent a frame's header trickles its body a byte at a time: the frame
    /// misses its deadline (timeout + length at 128 KB/s) instead of keeping the party
    /// waiting for as long as it likes.
    @Test func aTricklingPeerMissesTheFramesDeadline() throws {
        let (a, b) = try rawPair(timeout: 1)
        defer { close(a); b.close() }
        Self.sendRaw(a, [64, 0, 0, 0])
        let trickle = Background {
            for _ in 0..<8 {
                Self.sendRaw(a, [7])
                usleep(400_000)
            }
        }
        let start = monotonicSeconds()
        #expect { _ = try b.receive() } throws: { ($0 as? PeerError)?.message.contains("too little too slowly") == true }
        #expect(monotonicSeconds() - start < 2)
        try? trickle.wait()
    }

    /// A length header above what the protocol step expects is refused before the body
    /// arrives (none of it is ever sent here).
    @Test func anOversizedLengthIsRefusedFromItsHeader() throws {
        let (a, b) = try rawPair(timeout: 5)
        defer { close(a); b.close() }
        Self.sendRaw(a, [0x40, 0x42, 0x0F, 0])  // 1,000,000 bytes
        let start = monotonicSeconds()
        #expect { _ = try b.receive(atMost: 100) } throws: { ($0 as? PeerError)?.message.contains("1000000 bytes where the protocol expects at most 100") == true }
        #expect(monotonicSeconds() - start < 1)
    }

    /// A timeout of 30 days (the most a config may set) is a wait like any other: poll's
    /// millisecond argument no longer overflows.
    @Test func aThirtyDayTimeoutWorks() throws {
        let (a, b) = try pair(timeout: PartiesConfig.maxTimeout)
        defer { a.close(); b.close() }
        try a.send([5, 6])
        #expect(try b.receive() == [5, 6])
        let (config, _) = try Self.makeConfig(timeout: PartiesConfig.maxTimeout)
        #expect(config.timeout == PartiesConfig.maxTimeout)
        #expect { _ = try Self.makeConfig(timeout: PartiesConfig.maxTimeout + 1) } throws: { ($0 as? ConfigError)?.message.contains("at most 2592000 seconds") == true }
    }

    /// A frame of 2 GiB or more is an error, not a trap in the length's conversion.
    @Test func aFrameBeyondTheTransportsLimitIsAnError() throws {
        let (a, b) = try pair(timeout: 5)
        defer { a.close(); b.close() }
        let huge = [UInt8](unsafeUninitializedCapacity: 1 << 31) { _, count in count = 1 << 31 }
        #expect { try a.send(huge) } throws: { ($0 as? PeerError)?.message.contains("exceeds the transport's limit") == true }
    }

    /// --insecure-plaintext runs only on loopback hosts; `localhost` is one.
    @Test func insecurePlaintextNeedsLoopbackHosts() throws {
        let (remote, _) = try Self.makeConfig(host: "192.0.2.7")
        #expect { _ = try Network.connect(role: .client, config: remote, insecure: true) } throws: {
            ($0 as? ConfigError)?.message.contains("the client's host 192.0.2.7 is not") == true
        }
        let (local, _) = try Self.makeConfig(host: "localhost")
        try local.checkAllLoopback()
    }

    /// A listener binds its configured address only: 127.0.0.2 reaches the loopback
    /// device but not a party that listens on 127.0.0.1.
    @Test func listenersBindTheConfiguredAddress() throws {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        #expect(throws: PeerError.self) { _ = try TCPLink.connect(host: "127.0.0.2", port: listener.port, peerName: "x", deadline: 0.3, timeout: 1) }
        let link = try TCPLink.connect(host: "127.0.0.1", port: listener.port, peerName: "x", deadline: 2, timeout: 1)
        link.close()
        #expect(try Listener(host: "localhost", port: 0).fds.count >= 1)
    }

    /// Noise KK: with the server's static key stolen, an attacker that poses as the client
    /// still lacks the client-static-by-server-ephemeral secret, so the server drops it.
    /// (With the old schedule, ee and ss alone, the stolen key was enough.)
    @Test func aStolenStaticKeyDoesNotImpersonateTheOthers() throws {
        let (config, keys) = try Self.makeConfig(connectTimeout: 4)
        let log = Log()
        let server = Background { try Network.connect(role: .server, config: config, insecure: false, log: log.append) }
        let attacker = try Self.connection(config)
        defer { attacker.close() }
        let ephemeral = Curve25519.KeyAgreement.PrivateKey()
        let serverStatic = keys[.server]!.publicKey, clientStatic = keys[.client]!.publicKey
        let hello = Handshake.magic + [0, 1] + Array(ephemeral.publicKey.rawRepresentation) + Array(clientStatic.rawRepresentation)
        try attacker.send(hello)
        let theirs = try attacker.receive()
        let serverEphemeral = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: theirs[7..<39])
        // Everything the thief can compute: ee, e_client s_server, and ss from the stolen
        // server key; the fourth secret (s_client e_server) it must guess.
        let secrets = [try ephemeral.sharedSecretFromKeyAgreement(with: serverEphemeral),
                       try ephemeral.sharedSecretFromKeyAgreement(with: serverStatic),
                       nil,
                       try keys[.server]!.sharedSecretFromKeyAgreement(with: clientStatic)]
        let material = secrets.flatMap { $0?.withUnsafeBytes { Array($0) } ?? [UInt8](repeating: 0, count: 32) }
        let derived = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: material), salt: Array("mpcr handshake v3".utf8), info: hello + theirs, outputByteCount: 64)
        attacker.sealing = FrameSealer(key: SymmetricKey(data: derived.withUnsafeBytes { Array($0[0..<32]) }))
        try attacker.send(Array("confirm".utf8))
        #expect(throws: PeerError.self) { _ = try server.wait() }
        #expect(log.all.contains { $0.contains("different key") }, "\(log.all)")
    }

    /// Padding is split like a constant: the server's share of a padded position is fresh
    /// and random, not the 0 of a (value, 0) sharing, and the sum is still the value.
    @Test func paddingIsSplitLikeAConstant() throws {
        var program = Program(fracBits: 12, instructions: [
            Instruction(Input(), shape: [1, 2, 3, 3], source: "x"),
            Instruction(Pad(0, pads: [0, 0, 1, 1, 0, 0, 1, 1], value: 2048), shape: [1, 2, 5, 5], source: "pad"),
            Instruction(Reveal(1), shape: [1, 2, 5, 5], domain: .revealed, source: "out"),
        ], outputs: [2])
        CostModel.annotate(&program)
        let weights = WeightFile(programHash: program.hash, tensors: [])
        var revealed: RecordingLink?
        let session = MemorySession(program: program, weights: weights) { role, peer, link in
            guard role == .client && peer == .server else { return link }
            let recorder = RecordingLink(link)
            revealed = recorder
            return recorder
        }
        let input = (0..<18).map { Float($0) / 4 }
        let output = try session.infer([input])[0][0]
        #expect(output == Emulator(program: program, weights: weights).run(input)[0])
        #expect(output[0] == 0.5 && output[6] == 0)
        // The server's share of every padded position, in the reveal (its last frame).
        let frame = try #require(revealed?.received.last)
        let shares = (0..<50).map { index in frame[(8 * index)..<(8 * index + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        let padded = (0..<50).filter { index in let (row, column) = (index % 25 / 5, index % 5); return row == 0 || row == 4 || column == 0 || column == 4 }
        #expect(padded.count == 32 && Set(padded.map { shares[$0] }).count == 32, "padded shares repeat: \(padded.map { shares[$0] })")
    }

    /// A plain socket and the link that accepted it.
    func rawPair(timeout: Double) throws -> (Int32, TCPLink) {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let fd = Self.rawSocket(port: listener.port)
        return (fd, try #require(try listener.accept(within: 5, timeout: timeout)))
    }

    /// A connected pair of links over loopback.
    func pair(timeout: Double) throws -> (TCPLink, TCPLink) {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let a = try TCPLink.connect(host: "127.0.0.1", port: listener.port, peerName: "a", deadline: 5, timeout: timeout)
        let b = try #require(try listener.accept(within: 5, timeout: timeout))
        return (a, b)
    }
}
