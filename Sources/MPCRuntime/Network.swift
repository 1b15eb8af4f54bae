import Bytecode
import Crypto
import Foundation

/// A bad parties.json or key file (a user error, exit 1).
public struct ConfigError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// parties.json (Runtime/parties.json): where each role listens, each role's public key
/// (X25519, hex), the path of this host's private key, and timeouts.
public struct PartiesConfig: Sendable {
    public struct Endpoint: Sendable {
        public var host: String
        public var port: Int?
        public var publicKey: [UInt8]?
        public var privateKeyFile: String?
    }

    public var parties: [Role: Endpoint]
    /// Longest wait for any message of a running session.
    public var timeout: Double
    /// Longest wait for the peers to come up and connect.
    public var connectTimeout: Double
    /// Directory of the config file (relative key paths resolve against it).
    public var directory: String
    /// Client keys the server and the helper accept: the client's `public_key` and the
    /// `client_keys` allow list; and whether clients without a key may connect.
    public var clientKeys: Set<[UInt8]> = []
    public var anonymousClients = false

    public init(parties: [Role: Endpoint], timeout: Double, connectTimeout: Double, directory: String) {
        self.parties = parties
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.directory = directory
    }

    public static func read(path: String) throws -> PartiesConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError("cannot read \(path)") }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw ConfigError("\(path) is not a JSON object") }
        guard let parties = json["parties"] as? [String: Any] else { throw ConfigError("\(path) has no \"parties\" object") }
        var endpoints: [Role: Endpoint] = [:]
        for role in Role.allCases {
            guard let entry = parties[role.rawValue] as? [String: Any] else { throw ConfigError("\(path) has no entry for the \(role.rawValue)") }
            guard let host = entry["host"] as? String else { throw ConfigError("\(path): the \(role.rawValue) has no \"host\"") }
            let port = entry["port"] as? Int
            if role != .client {
                guard let port, (1...65535).contains(port) else { throw ConfigError("\(path): the \(role.rawValue) needs a \"port\" between 1 and 65535") }
            }
            var key: [UInt8]?
            if let hex = entry["public_key"] as? String {
                guard let bytes = Hex.bytes(hex), bytes.count == 32 else { throw ConfigError("\(path): the \(role.rawValue)'s public_key is not 64 hex digits") }
                key = bytes
            }
            endpoints[role] = Endpoint(host: host, port: port, publicKey: key, privateKeyFile: entry["private_key_file"] as? String)
        }
        let timeout = json["timeout_seconds"] as? Double ?? 30
        let connect = json["connect_timeout_seconds"] as? Double ?? 30
        guard timeout > 0, connect > 0, timeout <= maxTimeout, connect <= maxTimeout else {
            throw ConfigError("\(path): timeouts must be above 0 and at most \(Int(maxTimeout)) seconds (30 days)")
        }
        var config = PartiesConfig(parties: endpoints, timeout: timeout, connectTimeout: connect, directory: directory(of: path))
        config.clientKeys = Set([endpoints[.client]!.publicKey].compactMap { $0 })
        if let list = json["client_keys"] {
            guard let hexes = list as? [String] else { throw ConfigError("\(path): \"client_keys\" is not a list of public keys") }
            for hex in hexes {
                guard let bytes = Hex.bytes(hex), bytes.count == 32 else { throw ConfigError("\(path): a client key in \"client_keys\" is not 64 hex digits") }
                config.clientKeys.insert(bytes)
            }
        }
        if let anonymous = json["anonymous_clients"] {
            guard let flag = anonymous as? Bool else { throw ConfigError("\(path): \"anonymous_clients\" is not true or false") }
            config.anonymousClients = flag
        }
        return config
    }

    /// The longest timeout a config may set: 30 days.
    public static let maxTimeout = 30.0 * 86_400

    /// `--insecure-plaintext` sends frames in the clear: only where every configured host
    /// is this machine (each address it resolves to is a loopback one).
    func checkAllLoopback() throws {
        for role in Role.allCases {
            let host = parties[role]!.host
            let addresses: [Addresses.Address]
            do { addresses = try Addresses.resolve(host, port: 0) } catch let error as PeerError { throw ConfigError(error.message) }
            guard !addresses.isEmpty, addresses.allSatisfy(\.isLoopback) else {
                throw ConfigError("--insecure-plaintext sends every frame in the clear, so it runs only when every host is a loopback address; the \(role.rawValue)'s host \(host) is not")
            }
        }
    }

    /// The absolute directory of a config file: relative key paths resolve against it
    /// (a bare "parties.json" is in the working directory).
    static func directory(of path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent().path
    }

    /// This role's private key (hex in the file named by private_key_file).
    func privateKey(for role: Role) throws -> Curve25519.KeyAgreement.PrivateKey {
        guard let file = parties[role]!.privateKeyFile else { throw ConfigError("parties.json names no private_key_file for the \(role.rawValue)") }
        let path = file.hasPrefix("/") ? file : directory + "/" + file
        guard let data = FileManager.default.contents(atPath: path),
              let bytes = Hex.bytes(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32,
              let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes)
        else { throw ConfigError("\(path) does not hold a 32-byte private key in hex") }
        guard Array(key.publicKey.rawRepresentation) == parties[role]!.publicKey else {
            throw ConfigError("the private key in \(path) does not match the \(role.rawValue)'s public_key in parties.json")
        }
        return key
    }
}

/// Opens this party's three-party links for one session (`mpcr party`): the client
/// connects to the server and the helper, the helper connects to the server; the server
/// and the helper listen on their configured host's addresses. Every link starts with a
/// handshake (Handshake.swift). `emulation` paces every frame this party sends on each of
/// its links, the handshake's included (benchmarks; LinkEmulation). A connection that
/// fails its handshake on a listening party (junk, a wrong key, a role already
/// connected, silence) is dropped and `log` says why; the party keeps accepting until
/// its connect timeout. Then the session is opened (`openSession`).
public enum Network {
    public static func connect(role: Role, config: PartiesConfig, insecure: Bool, listenPort: Int? = nil, emulation: LinkEmulation? = nil,
                               log: @escaping @Sendable (String) -> Void = Network.logToStandardError) throws -> [Role: Link] {
        let handshake = try Handshake(config: config, role: role, insecure: insecure)
        var links: [Role: Link] = [:]
        let accepts: [Role] = role == .server ? [.client, .helper] : role == .helper ? [.client] : []
        let connects: [Role] = role == .client ? [.server, .helper] : role == .helper ? [.server] : []
        let listener = accepts.isEmpty ? nil : try Listener(host: config.parties[role]!.host, port: listenPort ?? config.parties[role]!.port!)
        let end = monotonicSeconds() + config.connectTimeout
        for peer in connects { links[peer] = try connectTo(peer, handshake: handshake, emulation: emulation, deadline: end) }
        if let listener {
            let accepted = Acceptance(waiting: Set(accepts))
            while let waiting = accepted.waiting {
                guard monotonicSeconds() < end else {
                    throw PeerError("the \(waiting.map(\.rawValue).sorted().joined(separator: " and ")) did not connect within \(Int(config.connectTimeout)) s")
                }
                guard let link = try listener.accept(within: 0.05, timeout: config.timeout, emulation: emulation) else { continue }
                guard accepted.begin() else {
                    link.close()
                    log("dropped a connection from \(link.remoteAddress): \(Acceptance.limit) handshakes are already under way")
                    continue
                }
                let box = UncheckedLink(link: link)
                Thread {
                    do {
                        let peer = try handshake.run(box.link, expecting: Set(accepts), connector: false, deadline: Handshake.acceptedDeadline(by: end)).role
                        if !accepted.finish(peer, box.link) { throw PeerError("the \(peer.rawValue) is already connected") }
                    } catch {
                        accepted.finish(nil, nil)
                        drop(box.link, because: error, log: log)
                    }
                }.start()
            }
            links.merge(accepted.connected) { first, _ in first }
        }
        try openSession(role: role, links: links)
        return links
    }

    /// A link to `peer` with its handshake done, by `deadline`.
    static func connectTo(_ peer: Role, handshake: Handshake, emulation: LinkEmulation?, deadline: Double) throws -> TCPLink {
        let config = handshake.config, endpoint = config.parties[peer]!
        let link = try TCPLink.connect(host: endpoint.host, port: endpoint.port!, peerName: peer.rawValue, deadline: config.connectTimeout, timeout: config.timeout, emulation: emulation)
        do {
            _ = try handshake.run(link, expecting: [peer], connector: true, deadline: deadline)
        } catch {
            link.finish()  // the frames already queued reach the peer, so it learns why
            throw error
        }
        return link
    }

    /// Ends a connection whose handshake or opening failed, with a log line.
    static func drop(_ link: TCPLink, because error: any Error, log: (String) -> Void) {
        link.finish(within: 0.5)
        log("dropped a connection from \(link.remoteAddress): \((error as? PeerError)?.message ?? "\(error)")")
    }

    /// After the handshakes: the client names the session with 16 fresh random bytes to
    /// the server and the helper, the helper passes the name on to the server (which
    /// checks that both name the same session), and each of them admits the client: one
    /// byte 0, or 1 and the reason it refuses (`refusal`, a server that is full).
    static func openSession(role: Role, links: [Role: Link]) throws {
        switch role {
        case .client:
            let session = PRG.freshKey().prefix(16)
            for peer in [Role.server, .helper] { try links[peer]!.send(Array(session)) }
            for peer in [Role.server, .helper] { try readAdmission(links[peer]!, from: peer) }
        case .helper:
            let session = try links[.client]!.receive(exactly: 16, "the client sent a malformed session name")
            try links[.server]!.send(session)
            try links[.client]!.send([0])
        case .server:
            let session = try links[.client]!.receive(exactly: 16, "the client sent a malformed session name")
            guard try links[.helper]!.receive(exactly: 16, "the helper sent a malformed session name") == session else {
                throw PeerError("the client and the helper name different sessions (the helper serves another client)")
            }
            try links[.client]!.send([0])
        }
    }

    /// The client reads whether `peer` admits it; a refusal ends the run with its reason.
    static func readAdmission(_ link: Link, from peer: Role) throws {
        let frame = try link.receive(atMost: 1024)
        guard let verdict = frame.first, verdict <= 1, verdict == 1 || frame.count == 1 else { throw PeerError("the \(peer.rawValue) sent a malformed admission") }
        guard verdict == 0 else { throw PeerError("the \(peer.rawValue) refused the session: \(String(decoding: frame.dropFirst(), as: UTF8.self))") }
    }

    public static let logToStandardError: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("mpcr: \($0)\n".utf8)) }
}

extension Handshake {
    /// This party's handshake under `config`: its static key unless in plaintext (a client
    /// without a private key file is anonymous where `anonymous_clients` is true; else the
    /// missing file is the configuration error it always was); plaintext only on loopback
    /// hosts.
    init(config: PartiesConfig, role: Role, insecure: Bool) throws {
        if insecure { try config.checkAllLoopback() }
        let anonymous = role == .client && config.parties[.client]!.privateKeyFile == nil && config.anonymousClients
        let key = insecure || anonymous ? nil : try config.privateKey(for: role)
        self.init(role: role, staticKey: key, encrypted: !insecure, config: config)
    }
}

/// The connections a listening party accepts while their handshakes run, each on a
/// thread of its own: the first to complete for each awaited role is kept.
final class Acceptance: @unchecked Sendable {
    /// Handshakes that may run at once; more connections are closed at once.
    static let limit = 32
    private let lock = NSLock()
    private var awaited: Set<Role>
    private var running = 0
    private var links: [Role: Link] = [:]

    /// The links of the roles that connected.
    var connected: [Role: Link] { lock.withLock { links } }

    init(waiting: Set<Role>) { awaited = waiting }

    /// The roles still awaited, or nil when all have connected.
    var waiting: Set<Role>? { lock.withLock { awaited.isEmpty ? nil : awaited } }

    /// Whether another handshake may start.
    func begin() -> Bool {
        lock.withLock {
            guard running < Acceptance.limit else { return false }
            running += 1
            return true
        }
    }

    /// A handshake ended: with `peer`'s link (false if that role already connected), or
    /// with nothing.
    @discardableResult
    func finish(_ peer: Role?, _ link: Link?) -> Bool {
        lock.withLock {
            running -= 1
            guard let peer, let link else { return true }
            guard awaited.remove(peer) != nil else { return false }
            links[peer] = link
            return true
        }
    }
}

/// A link handed to a handshake thread (used by that thread alone until it finishes).
struct UncheckedLink: @unchecked Sendable { let link: TCPLink }
