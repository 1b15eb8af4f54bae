import Bytecode
import Crypto
import Foundation

/// What lets a returning client skip the weight masks (Runtime/PROTOCOLS.md, "Session
/// resumption"). After a full setup every party with a cache keeps a record under a
/// fresh ticket: the client M = W - B of every masked weight, the helper the key B was
/// drawn from, the server only that the ticket is valid. A later session presents the
/// ticket; when the server and the helper both still hold it for the same program and
/// the same three parties, and it is younger than their lifetime, nobody sends or draws
/// the weight masks again. Records are files of this party's own directory (mode 0600):
/// the client's must never reach the helper, nor the helper's the client (either with
/// the other's would give W).
public struct SessionCache: Sendable {
    public let directory: String
    /// Seconds after issue the server and the helper honor a ticket (then a full setup
    /// draws new masks: the rotation).
    public let lifetime: Double
    /// SHA-256 of the program hash and the three parties' static public keys: a record
    /// serves only the same program between the same parties.
    public let binding: [UInt8]

    public init(directory: String, lifetime: Double, programHash: [UInt8], publicKeys: [[UInt8]]) {
        self.directory = directory
        self.lifetime = lifetime
        var hasher = SHA256()
        hasher.update(data: Array("mpcr session binding v1".utf8) + programHash)
        for key in publicKeys { hasher.update(data: key) }
        binding = Array(hasher.finalize())
    }

    static let magic = Array("MPCRSES1".utf8)
    static let noTicket = [UInt8](repeating: 0, count: 32)

    /// A record: the ticket, when it was issued (seconds since 1970) and the role's data.
    struct Record {
        var ticket: [UInt8]
        var issued: Double
        var payload: [UInt8]
    }

    /// The client keeps one record per binding; the server and the helper one per ticket.
    func path(_ role: Role, ticket: [UInt8]) -> String {
        let name = role == .client ? Hex.string(Array(binding.prefix(16))) : Hex.string(ticket)
        return "\(directory)/\(name).\(role.rawValue)-session"
    }

    func write(_ role: Role, _ record: Record) throws {
        var bytes = SessionCache.magic + record.ticket + binding
        withUnsafeBytes(of: record.issued.bitPattern.littleEndian) { bytes += $0 }
        bytes += record.payload
        try SessionCache.makeDirectory(directory)
        let file = path(role, ticket: record.ticket), temporary = file + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes), attributes: [.posixPermissions: 0o600]),
              rename(temporary, file) == 0 else { throw ConfigError("cannot write the session record \(file)") }
    }

    /// Creates `directory` (mode 0700) if it is missing, with one sentence when it cannot.
    public static func makeDirectory(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw ConfigError("the session cache \(directory) is a file, not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConfigError("cannot create the session cache directory \(directory)")
        }
    }

    /// The record at `path`, if it is whole, for this binding, and (for the server and
    /// the helper, which enforce the lifetime) not expired; an expired one is removed.
    func read(_ role: Role, ticket: [UInt8]) -> Record? {
        let file = path(role, ticket: ticket)
        guard let data = FileManager.default.contents(atPath: file), data.count >= 80 else { return nil }
        let bytes = [UInt8](data)
        guard Array(bytes[0..<8]) == SessionCache.magic, Array(bytes[40..<72]) == binding else { return nil }
        let record = Record(ticket: Array(bytes[8..<40]), issued: Double(bitPattern: bytes[72..<80].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }),
                            payload: Array(bytes[80...]))
        guard role == .client || (record.ticket == ticket && isFresh(record)) else {
            try? FileManager.default.removeItem(atPath: file)
            return nil
        }
        return record
    }

    func isFresh(_ record: Record) -> Bool {
        let age = Date().timeIntervalSince1970 - record.issued
        return age >= 0 && age < lifetime
    }

    /// Removes this role's expired records (the server and the helper keep one per client).
    func pruneExpired(_ role: Role) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasSuffix(".\(role.rawValue)-session") {
            guard let ticket = Hex.bytes(String(name.prefix(64))), ticket.count == 32 else { continue }
            _ = read(role, ticket: ticket)  // removes it when expired
        }
    }
}

extension Party {
    /// The client sends each peer its cached ticket (zeros: none) and a fresh one for this
    /// session; the server and the helper each tell both others whether they still hold
    /// the cached one. The session resumes when both do: the client takes its cached M,
    /// the helper draws B again from its cached key, in the setup's order.
    func negotiateResumption(_ cache: SessionCache?) throws -> (resumed: Bool, newTicket: [UInt8]) {
        switch role {
        case .client:
            let record = cache?.read(.client, ticket: SessionCache.noTicket)
            let cachedWeights = record.flatMap { Party.decodeMaskedWeights($0.payload, program) }
            let old = cachedWeights == nil ? SessionCache.noTicket : record!.ticket
            let new = cache == nil ? SessionCache.noTicket : PRG.freshKey()
            for peer in [Role.server, .helper] { try sendFrame(peer, old + new) }
            let verdicts = try [Role.server, .helper].map { try receiveVerdict(from: $0) }
            guard let cachedWeights, verdicts.allSatisfy({ $0 }) else { return (false, new) }
            for (index, words) in cachedWeights { weights[index] = words }
            return (true, new)
        case .server, .helper:
            let tickets = try links[.client]!.receive(exactly: 64, "the client sent a malformed session ticket")
            let old = Array(tickets[..<32]), new = Array(tickets[32...])
            cache?.pruneExpired(role)
            let record = old == SessionCache.noTicket ? nil : cache?.read(role, ticket: old)
            let mine = record != nil && (role == .server || record!.payload.count == 32)
            let other: Role = role == .server ? .helper : .server
            for peer in [Role.client, other] { try sendFrame(peer, [mine ? 1 : 0]) }
            guard try receiveVerdict(from: other), mine else { return (false, new) }
            if role == .helper {
                let prg = PRG(key: record!.payload)
                for index in Party.maskedWeights(program) { weights[index] = prg.words(program.weights[index].elementCount) }
            }
            return (true, new)
        }
    }

    private func receiveVerdict(from peer: Role) throws -> Bool {
        let frame = try links[peer]!.receive(atMost: 1)
        guard frame.count == 1, frame[0] <= 1 else { throw PeerError("the \(peer.rawValue) sent a malformed resumption verdict") }
        return frame[0] == 1
    }

    /// After a full setup: each party with a cache keeps its record under the new ticket
    /// (client: M; helper: the key B was drawn from; server: the ticket alone).
    func storeSession(_ cache: SessionCache?, ticket: [UInt8], helperKey: [UInt8]?) throws {
        guard let cache, ticket != SessionCache.noTicket else { return }
        let payload: [UInt8]
        switch role {
        case .client:
            payload = Party.maskedWeights(program).flatMap { index in weights[index]!.withUnsafeBytes { Array($0) } }
        case .helper: payload = helperKey!
        case .server: payload = []
        }
        try cache.write(role, SessionCache.Record(ticket: ticket, issued: Date().timeIntervalSince1970, payload: payload))
    }

    /// The client's cached M, weight by weight, if the payload has exactly their sizes.
    static func decodeMaskedWeights(_ payload: [UInt8], _ program: Program) -> [(Int, [UInt64])]? {
        let order = maskedWeights(program)
        guard payload.count == order.reduce(0, { $0 + program.weights[$1].elementCount }) * 8 else { return nil }
        var offset = 0
        return order.map { index in
            let count = program.weights[index].elementCount
            defer { offset += count * 8 }
            return (index, Party.unpack(payload[offset..<(offset + count * 8)], count: count, ring: .z64))
        }
    }
}
