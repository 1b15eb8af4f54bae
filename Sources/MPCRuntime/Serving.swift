import Bytecode
import Foundation

/// `mpcr serve`: a server or a helper that stays up for many client sessions at once
/// (Runtime/PROTOCOLS.md, "Serving many clients"). Each accepted connection's handshake
/// runs on a thread of its own; a client is admitted while fewer than `maxSessions`
/// sessions are open (else refused with the reason), and each session runs on its own
/// thread with its own keys, masks and links. The helper joins each session by
/// connecting to the server and naming it; the server pairs the two links by that
/// name. A session that fails ends alone, with its log record.
public final class SessionService: @unchecked Sendable {
    /// What one session did, for the log (`mpcr serve --log-json`).
    public struct Record: Sendable {
        public var role: Role
        public var peer: String
        public var clientKey: String
        public var session: String
        public var inferences = 0
        public var bytesSent = 0
        public var seconds = 0.0
        /// Whether the session resumed an earlier one (no weight masks sent).
        public var resumed = false
        public var outcome = "ok"

        public var json: [String: Any] {
            ["role": role.rawValue, "peer": peer, "client_key": clientKey, "session": session, "inferences": inferences,
             "bytes_sent": bytesSent, "seconds": seconds, "resumed": resumed, "outcome": outcome]
        }

        public var line: String {
            "\(role.rawValue) session \(session) from \(peer) (client key \(clientKey)\(resumed ? ", resumed" : "")): \(inferences) inferences, "
                + "\(bytesSent) bytes sent, \(String(format: "%.3f", seconds)) s, \(outcome)"
        }
    }

    let role: Role
    let program: Program
    let config: PartiesConfig
    let handshake: Handshake
    /// The server's weights in ring words, shared by all sessions (never written).
    let weights: [Int: [UInt64]]
    let maxSessions: Int
    let materialMemory: Int
    /// Where and for how long this party keeps session records (resumption), if at all.
    let sessionCache: (directory: String, lifetime: Double)?
    let listener: Listener
    let log: @Sendable (String) -> Void
    let record: @Sendable (Record) -> Void
    private let lock = NSLock()
    private let changed = NSCondition()
    private var open = 0, handshakes = 0
    private var draining = false
    private let rendezvous = Rendezvous()

    public init(role: Role, config: PartiesConfig, program: Program, weights: WeightFile?, maxSessions: Int, insecure: Bool = false,
                materialMemory: Int = 128 << 20, sessionCache: (directory: String, lifetime: Double)? = nil, listenPort: Int? = nil,
                log: @escaping @Sendable (String) -> Void = Network.logToStandardError, record: @escaping @Sendable (Record) -> Void) throws {
        precondition(role != .client, "only the server and the helper serve")
        self.role = role
        self.program = program
        self.config = config
        handshake = try Handshake(config: config, role: role, insecure: insecure)
        self.weights = weights.map(Party.ringWeights) ?? [:]
        self.maxSessions = maxSessions
        self.materialMemory = materialMemory
        self.sessionCache = sessionCache
        listener = try Listener(host: config.parties[role]!.host, port: listenPort ?? config.parties[role]!.port!)
        self.log = log
        self.record = record
    }

    /// The port it listens on.
    public var port: Int { listener.port }

    /// Sessions admitted and not yet ended.
    public var openSessions: Int { lock.withLock { open } }

    /// Accepts connections until `drain` is called, then returns once every session and
    /// handshake under way has ended.
    public func run() {
        while !lock.withLock({ draining }) {
            guard let link = try? listener.accept(within: 0.1, timeout: config.timeout) else { continue }
            let admitted = lock.withLock {
                guard handshakes < Acceptance.limit else { return false }
                handshakes += 1
                return true
            }
            guard admitted else {
                link.close()
                log("dropped a connection from \(link.remoteAddress): \(Acceptance.limit) handshakes are already under way")
                continue
            }
            let box = UncheckedLink(link: link)
            Thread { [self] in serve(box.link) }.start()
        }
        listener.close()
        changed.lock()
        while lock.withLock({ open > 0 || handshakes > 0 }) { _ = changed.wait(until: Date().addingTimeInterval(0.1)) }
        changed.unlock()
    }

    /// Stops accepting; sessions under way run to their end (SIGTERM).
    public func drain() { lock.withLock { draining = true } }

    private func finished(_ update: () -> Void) {
        lock.withLock(update)
        changed.lock()
        changed.broadcast()
        changed.unlock()
    }

    /// One accepted connection: its handshake and name, then a client's session, or (at
    /// the server) a helper joining one.
    private func serve(_ link: TCPLink) {
        let deadline = monotonicSeconds() + config.connectTimeout
        var identified: (peer: Handshake.Peer, name: [UInt8])?
        do {
            let peer = try handshake.run(link, expecting: role == .server ? [.client, .helper] : [.client], connector: false,
                                         deadline: Handshake.acceptedDeadline(by: deadline))
            identified = (peer, try link.receive(exactly: 16, "the \(link.peerName) sent a malformed session name"))
        } catch {
            Network.drop(link, because: error, log: log)
        }
        finished { handshakes -= 1 }
        guard let (peer, name) = identified else { return }
        if peer.role == .helper {
            if !rendezvous.offer(helper: link, name: name, until: deadline) { Network.drop(link, because: PeerError("no client opened session \(Hex.string(name).prefix(8))"), log: log) }
            return
        }
        guard admit(link) else { return }
        defer { finished { open -= 1 } }
        var record = Record(role: role, peer: link.remoteAddress, clientKey: peer.staticKey.map { String(Hex.string($0).prefix(16)) } ?? "anonymous",
                            session: String(Hex.string(name).prefix(8)))
        let start = monotonicSeconds()
        var links: [Role: Link] = [.client: link]
        do {
            links[role == .server ? .helper : .server] = try joinOther(name, deadline: deadline)
            try runSession(links, clientKey: peer.staticKey, &record)
        } catch {
            record.outcome = (error as? PeerError)?.message ?? (error as? ConfigError)?.message ?? "\(error)"
        }
        // A session that ended well lets its last frames reach the peers (the helper's
        // run ahead of the server's reading); a failed one closes soon.
        for link in links.values { (link as? TCPLink)?.finish(within: record.outcome == "ok" ? nil : 1) ?? link.close() }
        record.seconds = monotonicSeconds() - start
        self.record(record)
    }

    /// Admits the client (one byte 0) while fewer than `maxSessions` are open and the
    /// service is not draining; else refuses it with the reason.
    private func admit(_ link: TCPLink) -> Bool {
        let refusal: String? = lock.withLock {
            if draining { return "the \(role.rawValue) is shutting down" }
            guard open < maxSessions else { return "the \(role.rawValue) already serves its maximum of \(maxSessions) sessions; try again later" }
            open += 1
            return nil
        }
        guard let refusal else {
            do { try link.send([0]) } catch {
                finished { open -= 1 }
                return false
            }
            return true
        }
        try? link.send([1] + Array(refusal.utf8))
        link.finish(within: 1)
        log("refused a session from \(link.remoteAddress): \(refusal)")
        return false
    }

    /// The session's other link: the server waits for the helper to join under the same
    /// name; the helper connects to the server and names the session.
    private func joinOther(_ name: [UInt8], deadline: Double) throws -> Link {
        if role == .server {
            guard let helper = rendezvous.claim(name: name, until: deadline) else {
                throw PeerError("the helper did not join the session within \(Int(config.connectTimeout)) s")
            }
            return helper
        }
        let server = try Network.connectTo(.server, handshake: handshake, emulation: nil, deadline: deadline)
        try server.send(name)
        return server
    }

    /// Setup (resuming where this client's record allows), then the inferences the client
    /// announces. Records are bound to the session's own client key; an anonymous client
    /// has none, so it never resumes.
    private func runSession(_ links: [Role: Link], clientKey: [UInt8]?, _ record: inout Record) throws {
        let party = Party(role: role, program: program, ringWeights: weights, links: links)
        party.materialMemory = materialMemory
        defer { record.bytesSent = party.sessionBytes + party.phases.offlineBytes + party.phases.onlineBytes }
        let cache = sessionCache.flatMap { settings in
            clientKey.map { key in
                SessionCache(directory: settings.directory, lifetime: settings.lifetime, programHash: program.hash,
                             publicKeys: [key] + [Role.server, .helper].map { config.parties[$0]!.publicKey ?? [] })
            }
        }
        try party.setup(cache: cache)
        record.resumed = party.resumed
        let (count, ahead) = try Party.readAnnouncement(from: links[.client]!)
        try party.run(inferences: count, preprocess: ahead, input: { _ in nil }, output: { _ in })
        record.inferences = count
    }
}

/// Where the server pairs a client's session with the helper's link for it, by name.
final class Rendezvous: @unchecked Sendable {
    private let condition = NSCondition()
    private var waiting: [[UInt8]: Link] = [:]
    private var taken: Set<[UInt8]> = []

    /// The helper's link for session `name`: kept until a client's session claims it;
    /// false (and the caller drops it) if none does by `deadline`.
    func offer(helper: Link, name: [UInt8], until deadline: Double) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard waiting[name] == nil else { return false }
        waiting[name] = helper
        condition.broadcast()
        while !taken.contains(name) && monotonicSeconds() < deadline { _ = condition.wait(until: Date().addingTimeInterval(0.05)) }
        if taken.remove(name) != nil { return true }
        waiting[name] = nil
        return false
    }

    /// The helper's link for `name`, waiting for it until `deadline`.
    func claim(name: [UInt8], until deadline: Double) -> Link? {
        condition.lock()
        defer { condition.unlock() }
        while waiting[name] == nil && monotonicSeconds() < deadline { _ = condition.wait(until: Date().addingTimeInterval(0.05)) }
        guard let link = waiting.removeValue(forKey: name) else { return nil }
        taken.insert(name)
        condition.broadcast()
        return link
    }
}

extension Party {
    /// The server's weights as ring words, once for every session that shares them.
    static func ringWeights(_ file: WeightFile) -> [Int: [UInt64]] {
        Dictionary(uniqueKeysWithValues: file.tensors.enumerated().map { ($0.offset, $0.element.map { UInt64(bitPattern: $0) }) })
    }

    /// The client tells the others how many inferences follow and how many of them each
    /// prepares ahead (the client's `--preprocess` holds for the session): two
    /// little-endian 64-bit words.
    public static func announce(inferences: Int, ahead: Int, links: [Role: Link]) throws {
        let frame = [UInt64(inferences), UInt64(ahead)].flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } }
        for peer in [Role.server, .helper] { try links[peer]!.send(frame) }
    }

    /// The server's and the helper's side of `announce`, checked: at most 2^20
    /// inferences, at most 16 ahead.
    public static func readAnnouncement(from client: Link) throws -> (count: Int, ahead: Int) {
        let frame = try client.receive(exactly: 16, "the client sent a malformed session announcement")
        let words = (0..<2).map { index in frame.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)) } }
        guard words[0] <= 1 << 20 else { throw PeerError("the client announced \(words[0]) inferences") }
        guard words[1] <= 16 else { throw PeerError("the client asked to prepare \(words[1]) inferences ahead (at most 16)") }
        return (Int(words[0]), Int(words[1]))
    }
}
