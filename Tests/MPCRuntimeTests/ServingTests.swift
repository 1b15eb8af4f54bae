import Bytecode
import Crypto
import Foundation
import TestSupport
import Testing

@testable import MPCRuntime

/// `mpcr serve`'s core (SessionService): one server and one helper serve many clients at
/// once, each session alone with its own keys; a full service refuses with the reason;
/// a failing client ends only its own session; the allow list and anonymous clients.
@Suite(.serialized) struct ServingTests {
    final class Records: @unchecked Sendable {
        private let lock = NSLock()
        private var records: [SessionService.Record] = []
        func append(_ record: SessionService.Record) { lock.withLock { records.append(record) } }
        var all: [SessionService.Record] { lock.withLock { records } }
    }

    /// A server and a helper serving `program` on threads; `stop` drains both and waits.
    struct Services {
        let server: SessionService, helper: SessionService
        let runs: [HardeningTests.Background<Void>]
        let records: Records

        init(_ config: PartiesConfig, program: Program, weights: WeightFile, maxSessions: Int, cache: String? = nil) throws {
            let records = Records()
            server = try SessionService(role: .server, config: config, program: program, weights: weights, maxSessions: maxSessions,
                                        sessionCache: cache.map { ("\($0)/server", 3600) }, log: { _ in }, record: records.append)
            helper = try SessionService(role: .helper, config: config, program: program, weights: nil, maxSessions: maxSessions,
                                        sessionCache: cache.map { ("\($0)/helper", 3600) }, log: { _ in }, record: records.append)
            let (s, h) = (server, helper)
            runs = [HardeningTests.Background { s.run() }, HardeningTests.Background { h.run() }]
            self.records = records
        }

        func stop() throws {
            server.drain()
            helper.drain()
            for run in runs { try run.wait() }
        }
    }

    /// One client session: connect, set up, announce, run; the outputs.
    static func runClient(_ config: PartiesConfig, program: Program, inputs: [[Float]], stopAfterSetup: Bool = false, cache: String? = nil) throws -> [[[Float]]] {
        let links = try Network.connect(role: .client, config: config, insecure: false)
        defer { for link in links.values { (link as? TCPLink)?.finish(within: 1) } }
        let party = Party(role: .client, program: program, weights: nil, links: links)
        try party.setup(cache: cache.map { SessionCache(directory: $0, lifetime: 3600, programHash: program.hash, publicKeys: Role.allCases.map { config.parties[$0]?.publicKey ?? [] }) })
        if stopAfterSetup {
            for link in links.values { link.close() }
            return []
        }
        try Party.announce(inferences: inputs.count, ahead: 1, links: links)
        var outputs: [[[Float]]] = []
        try party.run(inferences: inputs.count, preprocess: 1, input: { inputs[$0] }, output: { outputs.append($0) })
        return outputs
    }

    @Test func manyClientsAtOnceEachGetTheEmulatorsOutputs() throws {
        let (program, weights, rows) = try compiledFixture("tiny_resnet", blocks: true, exact: true)
        let (config, _) = try HardeningTests.makeConfig(timeout: 20, connectTimeout: 20)
        let services = try Services(config, program: program, weights: weights, maxSessions: 6)
        let emulator = Emulator(program: program, weights: weights)
        let inputs = (0..<4).map { client in (0..<3).map { rows[($0 + client) % rows.count] } }
        let clients = inputs.map { mine in HardeningTests.Background { try Self.runClient(config, program: program, inputs: mine) } }
        // A client that leaves after its setup: only its own session ends.
        let leaver = HardeningTests.Background { try Self.runClient(config, program: program, inputs: [rows[0]], stopAfterSetup: true) }
        for (client, mine) in zip(clients, inputs) { #expect(try client.wait() == mine.map { emulator.run($0) }) }
        _ = try? leaver.wait()
        try services.stop()
        let records = services.records.all
        #expect(records.filter { $0.outcome == "ok" && $0.inferences == 3 }.count == 8, "\(records.map(\.line))")
        #expect(records.filter { $0.outcome != "ok" }.count == 2, "\(records.map(\.line))")
        #expect(Set(records.map(\.session)).count == 5)
        #expect(services.server.openSessions == 0 && services.helper.openSessions == 0)
    }

    @Test func aFullServiceRefusesWithTheReason() throws {
        let (program, weights, rows) = try compiledFixture("tiny_resnet")
        let (config, _) = try HardeningTests.makeConfig(timeout: 20, connectTimeout: 20)
        let services = try Services(config, program: program, weights: weights, maxSessions: 1)
        let long = HardeningTests.Background { try Self.runClient(config, program: program, inputs: Array(repeating: rows[0], count: 40)) }
        for _ in 0..<100 where services.server.openSessions == 0 { usleep(20_000) }
        #expect { _ = try Self.runClient(config, program: program, inputs: [rows[0]]) } throws: { error in
            (error as? PeerError)?.message == "the server refused the session: the server already serves its maximum of 1 sessions; try again later"
        }
        let longOutputs = try? long.wait()
        #expect(longOutputs?.count == 40, "\(services.records.all.map(\.line))")
        #expect(try Self.runClient(config, program: program, inputs: [rows[1]]).count == 1, "a place is free again")
        try services.stop()
    }

    /// Clients with a key on `client_keys` connect; others are dropped at the handshake;
    /// anonymous clients only where `anonymous_clients` says so.
    @Test func theAllowListAndAnonymousClients() throws {
        let (program, weights, rows) = try compiledFixture("tiny_resnet", exact: true)
        var (config, _) = try HardeningTests.makeConfig(timeout: 10, connectTimeout: 3)
        let listed = try Self.clientConfig(config, key: Curve25519.KeyAgreement.PrivateKey())
        config.clientKeys.insert(listed.parties[.client]!.publicKey!)
        let services = try Services(config, program: program, weights: weights, maxSessions: 4)
        #expect(try Self.runClient(listed, program: program, inputs: [rows[0]]).count == 1)
        let stranger = try Self.clientConfig(config, key: Curve25519.KeyAgreement.PrivateKey())
        #expect(throws: PeerError.self) { _ = try Self.runClient(stranger, program: program, inputs: [rows[0]]) }
        // A client that wants to be anonymous (its own parties.json says so) where the
        // service's does not allow it.
        var anonymous = config
        anonymous.parties[.client]!.privateKeyFile = nil
        anonymous.anonymousClients = true
        #expect(throws: PeerError.self) { _ = try Self.runClient(anonymous, program: program, inputs: [rows[0]]) }
        // Without `anonymous_clients` a missing private key file stays a configuration error.
        var keyless = config
        keyless.parties[.client]!.privateKeyFile = nil
        #expect(throws: ConfigError.self) { _ = try Self.runClient(keyless, program: program, inputs: [rows[0]]) }
        try services.stop()
        config.anonymousClients = true
        let open = try Services(config, program: program, weights: weights, maxSessions: 4)
        #expect(try Self.runClient(anonymous, program: program, inputs: [rows[0]]) == [Emulator(program: program, weights: weights).run(rows[0])])
        try open.stop()
        #expect(open.records.all.allSatisfy { $0.clientKey == "anonymous" && $0.outcome == "ok" })
    }

    /// A returning client resumes its session at a service with a session cache: the
    /// second session sends no weight masks and still computes the emulator's outputs.
    @Test func aReturningClientResumes() throws {
        let (program, weights, rows) = try compiledFixture("tiny_resnet", exact: true)
        let (config, _) = try HardeningTests.makeConfig(timeout: 20, connectTimeout: 10)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mpcr-serve-cache-\(UUID().uuidString)").path
        let services = try Services(config, program: program, weights: weights, maxSessions: 2, cache: directory)
        let expected = [Emulator(program: program, weights: weights).run(rows[0])]
        #expect(try Self.runClient(config, program: program, inputs: [rows[0]], cache: "\(directory)/client") == expected)
        #expect(try Self.runClient(config, program: program, inputs: [rows[0]], cache: "\(directory)/client") == expected)
        try services.stop()
        let servers = services.records.all.filter { $0.role == .server }
        #expect(servers.map(\.resumed) == [false, true], "\(servers.map(\.line))")
        #expect(servers[1].bytesSent < servers[0].bytesSent - program.totalCost.session.server / 2)
    }

    /// `config` as a client holding `key` sees it.
    static func clientConfig(_ config: PartiesConfig, key: Curve25519.KeyAgreement.PrivateKey) throws -> PartiesConfig {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mpcr-client-\(UUID().uuidString).key").path
        try Hex.string(key.rawRepresentation).write(toFile: path, atomically: true, encoding: .utf8)
        var copy = config
        copy.parties[.client]!.publicKey = Array(key.publicKey.rawRepresentation)
        copy.parties[.client]!.privateKeyFile = path
        return copy
    }
}
