import Bytecode
import Foundation

/// Three parties as threads of this process over in-memory links: the transport of the
/// tests and of `mpcr bench`.
public struct MemorySession {
    public let parties: [Role: Party]

    /// `wrap` may replace each party's link to each peer (tests record transcripts).
    public init(program: Program, weights: WeightFile, timeout: Double = 60, wrap: (Role, Role, Link) -> Link = { $2 }) {
        let (cs, sc) = MemoryLink.pair("client", "server", timeout: timeout)
        let (ch, hc) = MemoryLink.pair("client", "helper", timeout: timeout)
        let (sh, hs) = MemoryLink.pair("server", "helper", timeout: timeout)
        let (clientServer, serverClient) = (wrap(.client, .server, cs), wrap(.server, .client, sc))
        let (clientHelper, helperClient) = (wrap(.client, .helper, ch), wrap(.helper, .client, hc))
        let (serverHelper, helperServer) = (wrap(.server, .helper, sh), wrap(.helper, .server, hs))
        parties = [
            .client: Party(role: .client, program: program, weights: nil, links: [.server: clientServer, .helper: clientHelper]),
            .server: Party(role: .server, program: program, weights: weights, links: [.client: serverClient, .helper: serverHelper]),
            .helper: Party(role: .helper, program: program, weights: nil, links: [.client: helperClient, .server: helperServer]),
        ]
    }

    /// Runs `body` for each role on its own thread and waits for all three; the first
    /// error (if any) is rethrown after the others stop.
    public func run(_ body: @escaping @Sendable (Party) throws -> Void) throws {
        let group = DispatchGroup()
        let errors = ErrorBox()
        for role in Role.allCases {
            let party = UncheckedParty(party: parties[role]!)
            group.enter()
            let thread = Thread {
                do { try body(party.party) } catch {
                    errors.record(error)
                    for link in party.party.links.values { link.close() }
                }
                group.leave()
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        group.wait()
        if let error = errors.first { throw error }
    }

    /// Setup, then one inference per input, each role keeping `ahead[role]` inferences
    /// prepared (`Party.run`); the client's outputs.
    public func infer(_ inputs: [[Float]], preprocess ahead: [Role: Int] = [:]) throws -> [[[Float]]] {
        let results = ResultBox()
        try run { party in
            try party.setup()
            try party.run(inferences: inputs.count, preprocess: ahead[party.role] ?? 0,
                          input: { party.role == .client ? inputs[$0] : nil }, output: results.append)
        }
        return results.values
    }
}

/// Parties are used by one thread at a time.
struct UncheckedParty: @unchecked Sendable { let party: Party }

final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [any Error] = []
    func record(_ error: any Error) { lock.withLock { errors.append(error) } }
    var first: (any Error)? { lock.withLock { errors.first } }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [[[Float]]] = []
    func append(_ value: [[Float]]) { lock.withLock { stored.append(value) } }
    var values: [[[Float]]] { lock.withLock { stored } }
}
