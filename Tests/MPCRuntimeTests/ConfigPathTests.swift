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
}
