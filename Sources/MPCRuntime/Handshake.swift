import Bytecode
import Crypto
import Foundation

/// The first exchange on every link (Runtime/PROTOCOLS.md, "Channels"). Each end sends a
/// hello (magic and version, role, whether it encrypts, an ephemeral X25519 key, and its
/// static public key, zeros for an anonymous client); then, unless in plaintext, both
/// derive per-direction ChaCha20-Poly1305 keys from the Diffie-Hellman secrets in the
/// connecting party's order, as Noise's KK pattern mixes them (ee, e_connector
/// s_acceptor, and with a client key s_connector e_acceptor and ss), and prove them with
/// a sealed confirmation frame.
struct Handshake {
    static let magic: [UInt8] = Array("MPCR".utf8) + [3]
    static let helloBytes = magic.count + 2 + 32 + 32
    /// Seconds an accepted connection has for its whole handshake: a peer sends its
    /// hello at once, so a silent connection holds a handshake slot this long at most.
    static let acceptedWithin = 10.0

    /// The deadline of an accepted connection's handshake: `acceptedWithin` from now, or
    /// `end` if sooner.
    static func acceptedDeadline(by end: Double) -> Double { min(end, monotonicSeconds() + acceptedWithin) }

    /// This party: its role, its static key (nil in plaintext, or for an anonymous
    /// client), and whether it encrypts.
    let role: Role
    let staticKey: Curve25519.KeyAgreement.PrivateKey?
    let encrypted: Bool
    let config: PartiesConfig

    /// What the peer turned out to be: its role, and its static key (nil: anonymous, or
    /// plaintext).
    struct Peer {
        let role: Role
        let staticKey: [UInt8]?
    }

    /// Runs the handshake on `link` by `deadline` (CLOCK_MONOTONIC seconds; a silent peer
    /// is dropped then), the peer being one of `expecting`.
    func run(_ link: TCPLink, expecting: Set<Role>, connector: Bool, deadline: Double) throws -> Peer {
        link.timeout = max(0.001, min(config.timeout, deadline - monotonicSeconds()))
        defer { link.timeout = config.timeout }
        let ephemeral = Curve25519.KeyAgreement.PrivateKey()
        let ownStatic = staticKey.map { Array($0.publicKey.rawRepresentation) } ?? [UInt8](repeating: 0, count: 32)
        let hello = Handshake.magic + [UInt8(Role.allCases.firstIndex(of: role)!), encrypted ? 1 : 0] + Array(ephemeral.publicKey.rawRepresentation) + ownStatic
        try link.send(hello)
        let theirs = try link.receive(atMost: Handshake.helloBytes)
        let peer = try check(theirs, expecting: expecting)
        link.peerName = peer.role.rawValue
        guard encrypted else { return peer }
        guard let peerEphemeral = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: theirs[7..<39]) else {
            throw PeerError("the \(peer.role.rawValue)'s keys are malformed")
        }
        let (first, second) = connector ? (hello, theirs) : (theirs, hello)
        var material = try secrets(ephemeral: ephemeral, peerEphemeral: peerEphemeral, peerStatic: peer.staticKey, connector: connector)
        defer { material = [] }
        let keys = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: material), salt: Array("mpcr handshake v3".utf8), info: first + second, outputByteCount: 64)
        let bytes = keys.withUnsafeBytes { Array($0) }
        let forward = SymmetricKey(data: bytes[0..<32]), backward = SymmetricKey(data: bytes[32..<64])
        link.sealing = FrameSealer(key: connector ? forward : backward)
        link.opening = FrameSealer(key: connector ? backward : forward)
        try link.send(Array("confirm".utf8))
        do {
            guard try link.receive(atMost: 7) == Array("confirm".utf8) else { throw PeerError("the \(peer.role.rawValue) failed the key confirmation") }
        } catch let error as PeerError where error.message.contains("failed authentication") {
            throw PeerError("the \(peer.role.rawValue) holds a different key than parties.json says (key confirmation failed)")
        }
        return peer
    }

    /// The peer's hello: the magic of this version, an awaited role, the same encryption,
    /// and a static key this party accepts for that role.
    private func check(_ theirs: [UInt8], expecting: Set<Role>) throws -> Peer {
        guard theirs.count == Handshake.helloBytes, Array(theirs.prefix(Handshake.magic.count)) == Handshake.magic, Int(theirs[5]) < Role.allCases.count else {
            throw PeerError("a peer sent a malformed hello (not an mpcr party of this version)")
        }
        let role = Role.allCases[Int(theirs[5])]
        guard expecting.contains(role) else { throw PeerError("the \(role.rawValue) connected where the \(expecting.map(\.rawValue).sorted().joined(separator: " or ")) was expected") }
        guard (theirs[6] == 1) == encrypted else {
            throw PeerError("the \(role.rawValue) runs \(theirs[6] == 1 ? "with" : "without") encryption and this party \(encrypted ? "with" : "without"); use --insecure-plaintext on all three or none")
        }
        let key = Array(theirs[39...])
        guard encrypted else { return Peer(role: role, staticKey: nil) }
        let staticKey = key.allSatisfy { $0 == 0 } ? nil : key
        if role == .client {
            guard let staticKey else {
                guard config.anonymousClients else { throw PeerError("an anonymous client connected, and parties.json does not allow anonymous clients") }
                return Peer(role: role, staticKey: nil)
            }
            guard config.clientKeys.contains(staticKey) else { throw PeerError("the client's key \(Hex.string(staticKey).prefix(16))... is not on the allow list in parties.json") }
        } else if staticKey != config.parties[role]!.publicKey {
            throw PeerError("the \(role.rawValue) holds a different key than parties.json says")
        }
        return Peer(role: role, staticKey: staticKey)
    }

    /// ee, e_connector s_acceptor, then with the connector's static key s_connector
    /// e_acceptor and ss. The mixed terms need this handshake's ephemeral keys, so a thief
    /// of one party's static key cannot pose as another to it; an anonymous client still
    /// knows it talks to the holder of the acceptor's static key (es).
    private func secrets(ephemeral: Curve25519.KeyAgreement.PrivateKey, peerEphemeral: Curve25519.KeyAgreement.PublicKey,
                         peerStatic: [UInt8]?, connector: Bool) throws -> [UInt8] {
        func bytes(_ secret: SharedSecret) -> [UInt8] { secret.withUnsafeBytes { Array($0) } }
        func publicKey(_ raw: [UInt8]?) throws -> Curve25519.KeyAgreement.PublicKey? {
            try raw.map { try Curve25519.KeyAgreement.PublicKey(rawRepresentation: $0) }
        }
        let peerStaticKey = try publicKey(peerStatic)
        var terms = [bytes(try ephemeral.sharedSecretFromKeyAgreement(with: peerEphemeral))]
        if connector {
            guard let acceptor = peerStaticKey else { throw PeerError("the \(role.rawValue) needs its peer's static key") }
            terms.append(bytes(try ephemeral.sharedSecretFromKeyAgreement(with: acceptor)))
            if let staticKey {
                terms.append(bytes(try staticKey.sharedSecretFromKeyAgreement(with: peerEphemeral)))
                terms.append(bytes(try staticKey.sharedSecretFromKeyAgreement(with: acceptor)))
            }
        } else {
            guard let staticKey else { throw PeerError("the \(role.rawValue) needs a static key to accept connections") }
            terms.append(bytes(try staticKey.sharedSecretFromKeyAgreement(with: peerEphemeral)))
            if let connectorStatic = peerStaticKey {
                terms.append(bytes(try ephemeral.sharedSecretFromKeyAgreement(with: connectorStatic)))
                terms.append(bytes(try staticKey.sharedSecretFromKeyAgreement(with: connectorStatic)))
            }
        }
        return terms.flatMap { $0 }
    }
}
