import Bytecode
import Crypto
import Foundation
@testable import MPCRuntime
import Testing

/// Key files named relative to parties.json are found next to it, whether the config's
/// own path is absolute, relative to the working directory, or the bare file name.
@Suite struct ConfigPathTests {
    @Test func relativeKeyPathsResolveAgainstTheConfigsDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mpcr-config-\(UUID().uuidString)").standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: "\(directory)/keys", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var parties: [String: Any] = [:]
        for role in Role.allCases {
            let key = Curve25519.KeyAgreement.PrivateKey()
            try Hex.string(key.rawRepresentation).write(toFile: "\(directory)/keys/\(role.rawValue).key", atomically: true, encoding: .utf8)
            var entry: [String: Any] = ["host": "127.0.0.1", "public_key": Hex.string(key.publicKey.rawRepresentation), "private_key_file": "keys/\(role.rawValue).key"]
            if role != .client { entry["port"] = 40000 }
            parties[role.rawValue] = entry
        }
        let data = try JSONSerialization.data(withJSONObject: ["parties": parties])
        try data.write(to: URL(fileURLWithPath: "\(directory)/parties.json"))
        // The same file by its absolute path and by a path relative to the working directory.
        let here = FileManager.default.currentDirectoryPath
        #expect(PartiesConfig.directory(of: "parties.json") == here, "a bare name is in the working directory")
        #expect(PartiesConfig.directory(of: "./conf/parties.json") == here + "/conf")
        let depth = FileManager.default.currentDirectoryPath.split(separator: "/").count
        let relative = String(repeating: "../", count: depth) + directory.dropFirst()
        for path in ["\(directory)/parties.json", relative + "/parties.json", "\(directory)/./keys/../parties.json"] {
            let config = try PartiesConfig.read(path: path)
            #expect(config.directory == directory, "\(path)")
            for role in Role.allCases { _ = try config.privateKey(for: role) }
        }
    }

    /// `client_keys` and `anonymous_clients` are read into the allow list; a malformed
    /// one is a configuration error naming the key.
    @Test func clientKeysAndAnonymousClients() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mpcr-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let own = String(repeating: "ab", count: 32), listed = String(repeating: "cd", count: 32)
        func read(_ extra: String) throws -> PartiesConfig {
            let text = """
                {\(extra) "parties": {"client": {"host": "127.0.0.1", "public_key": "\(own)"},
                  "server": {"host": "127.0.0.1", "port": 7001}, "helper": {"host": "127.0.0.1", "port": 7002}}}
                """
            try text.write(toFile: "\(directory)/p.json", atomically: true, encoding: .utf8)
            return try PartiesConfig.read(path: "\(directory)/p.json")
        }
        let plain = try read("")
        #expect(plain.clientKeys == [Hex.bytes(own)!] && !plain.anonymousClients)
        let listing = try read("\"client_keys\": [\"\(listed)\"], \"anonymous_clients\": true,")
        #expect(listing.clientKeys == [Hex.bytes(own)!, Hex.bytes(listed)!] && listing.anonymousClients)
        for (extra, message) in [("\"client_keys\": \"\(listed)\",", "\"client_keys\" is not a list"), ("\"client_keys\": [\"abc\"],", "not 64 hex digits"),
                                 ("\"anonymous_clients\": \"yes\",", "\"anonymous_clients\" is not true or false")] {
            #expect { _ = try read(extra) } throws: { ($0 as? ConfigError)?.message.contains(message) == true }
        }
    }
}
