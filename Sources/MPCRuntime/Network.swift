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
        return PartiesConfig(parties: endpoints, timeout: timeout, connectTimeout: connect, directory: directory(of: path))
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

/// Opens this party's three-party links: the client connects to the server and the
/// helper, the helper connects to the server; the server and the helper listen on their
/// configured host's addresses. Each link starts with a hello (magic, version, role,
/// ephemeral X25519 key); unless `insecure`, both ends derive per-direction
/// ChaCha20-Poly1305 keys from the ephemeral and static Diffie-Hellman secrets (Noise KK
/// style: ee, es, se and ss, so only the holders of the configured keys can talk, and a
/// party's stolen static key does not let anyone impersonate the others to it) and prove
/// it with a first sealed frame. `emulation` paces every frame this party sends on each
/// of its links, the handshake's included (benchmarks; LinkEmulation). A connection that
/// fails its handshake on a listening party (junk, a wrong key, a role already
/// connected, silence) is dropped and `log` says why; the party keeps accepting until
/// its connect timeout.
public enum Network {
    static let magic: [UInt8] = Array("MPCR".utf8) + [2]

    public static func connect(role: Role, config: PartiesConfig, insecure: Bool, listenPort: Int? = nil, emulation: LinkEmulation? = nil,
                               log: @escaping @Sendable (String) -> Void = Network.logToStandardError) throws -> [Role: Link] {
        if insecure { try config.checkAllLoopback() }
        let staticKey = insecure ? nil : try config.privateKey(for: role)
        var links: [Role: Link] = [:]
        let accepts: [Role] = role == .server ? [.client, .helper] : role == .helper ? [.client] : []
        let connects: [Role] = role == .client ? [.server, .helper] : role == .helper ? [.server] : []
        let listener = accepts.isEmpty ? nil : try Listener(host: config.parties[role]!.host, port: listenPort ?? config.parties[role]!.port!)
        let end = monotonicSeconds() + config.connectTimeout
        for peer in connects {
            let endpoint = config.parties[peer]!
            let link = try TCPLink.connect(host: endpoint.host, port: endpoint.port!, peerName: peer.rawValue, deadline: config.connectTimeout, timeout: config.timeout, emulation: emulation)
            do {
                try handshake(link, role: role, expecting: [peer], connector: true, staticKey: staticKey, config: config, deadline: end)
            } catch {
                link.finish()  // the frames already queued reach the peer, so it learns why
                throw error
            }
            links[peer] = link
        }
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
                        let peer = try handshake(box.link, role: role, expecting: Set(accepts), connector: false, staticKey: staticKey, config: config, deadline: end)
                        if !accepted.finish(peer, box.link) { throw PeerError("the \(peer.rawValue) is already connected") }
                    } catch {
                        accepted.finish(nil, nil)
                        box.link.finish(within: 0.5)
                        log("dropped a connection from \(box.link.remoteAddress): \((error as? PeerError)?.message ?? "\(error)")")
                    }
                }.start()
            }
            links.merge(accepted.links) { first, _ in first }
        }
        return links
    }

    public static let logToStandardError: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("mpcr: \($0)\n".utf8)) }

    @discardableResult
    static func handshake(_ link: TCPLink, role: Role, expecting: Set<Role>, connector: Bool, staticKey: Curve25519.KeyAgreement.PrivateKey?,
                          config: PartiesConfig, deadline: Double) throws -> Role {
        // The handshake must finish by the connect deadline: a silent peer is dropped then.
        link.timeout = max(0.001, min(config.timeout, deadline - monotonicSeconds()))
        defer { link.timeout = config.timeout }
        let ephemeral = Curve25519.KeyAgreement.PrivateKey()
        let roleByte = UInt8(Role.allCases.firstIndex(of: role)!)
        let hello = magic + [roleByte, staticKey == nil ? 0 : 1] + Array(ephemeral.publicKey.rawRepresentation)
        try link.send(hello)
        let theirs = try link.receive(atMost: hello.count)
        guard theirs.count == hello.count, Array(theirs.prefix(magic.count)) == magic, Int(theirs[5]) < Role.allCases.count else {
            throw PeerError("a peer sent a malformed hello (not an mpcr party of this version)")
        }
        let peer = Role.allCases[Int(theirs[5])]
        link.peerName = peer.rawValue
        guard expecting.contains(peer) else { throw PeerError("the \(peer.rawValue) connected where the \(expecting.map(\.rawValue).sorted().joined(separator: " or ")) was expected") }
        guard (theirs[6] == 1) == (staticKey != nil) else {
            throw PeerError("the \(peer.rawValue) runs \(theirs[6] == 1 ? "with" : "without") encryption and this party \(staticKey != nil ? "with" : "without"); use --insecure-plaintext on all three or none")
        }
        guard let staticKey else { return peer }
        guard let peerStatic = config.parties[peer]!.publicKey, let peerStaticKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: peerStatic),
              let peerEphemeral = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: theirs[7...])
        else { throw PeerError("the \(peer.rawValue)'s keys are malformed") }
        // Noise KK's four secrets, in the connector's order: ee, e_connector s_acceptor,
        // s_connector e_acceptor, ss. The mixed terms need an ephemeral key of this very
        // handshake, so a thief of one party's static key cannot pose as another to it.
        let ee = try ephemeral.sharedSecretFromKeyAgreement(with: peerEphemeral)
        let es = try ephemeral.sharedSecretFromKeyAgreement(with: peerStaticKey)
        let se = try staticKey.sharedSecretFromKeyAgreement(with: peerEphemeral)
        let ss = try staticKey.sharedSecretFromKeyAgreement(with: peerStaticKey)
        let (first, second) = connector ? (hello, theirs) : (theirs, hello)
        var material = [ee, connector ? es : se, connector ? se : es, ss].flatMap { secret in secret.withUnsafeBytes { Array($0) } }
        defer { material = [] }
        let keys = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: material), salt: Array("mpcr handshake v2".utf8), info: first + second, outputByteCount: 64)
        let bytes = keys.withUnsafeBytes { Array($0) }
        let forward = SymmetricKey(data: bytes[0..<32]), backward = SymmetricKey(data: bytes[32..<64])
        link.sealing = FrameSealer(key: connector ? forward : backward)
        link.opening = FrameSealer(key: connector ? backward : forward)
        try link.send(Array("confirm".utf8))
        do {
            guard try link.receive(atMost: 7) == Array("confirm".utf8) else { throw PeerError("the \(peer.rawValue) failed the key confirmation") }
        } catch let error as PeerError where error.message.contains("failed authentication") {
            throw PeerError("the \(peer.rawValue) holds a different key than parties.json says (key confirmation failed)")
        }
        return peer
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
    private(set) var links: [Role: Link] = [:]

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
