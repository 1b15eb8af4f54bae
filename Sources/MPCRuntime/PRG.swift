import Crypto
import _CryptoExtras

/// A pseudorandom generator shared by two parties: AES-256 in counter mode under a key
/// agreed for this session. Both parties draw the same values as long as they draw in
/// the same order, which the protocols guarantee by construction.
public final class PRG {
    private let key: SymmetricKey
    private var block: UInt64 = 0

    public init(key: [UInt8]) {
        precondition(key.count == 32, "PRG keys are 256 bits")
        self.key = SymmetricKey(data: key)
    }

    /// 32 bytes from the operating system's CSPRNG (getrandom on Linux).
    public static func freshKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } }
    }

    /// The next `count` uniformly random ring elements (or bit-plane words).
    public func words(_ count: Int) -> [UInt64] {
        guard count > 0 else { return [] }
        let bytes = count * 8
        let blocks = (bytes + 15) / 16
        var counter = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: block.bigEndian) { counter.replaceSubrange(8..<16, with: $0) }
        block += UInt64(blocks)
        let stream = try! AES._CTR.encrypt([UInt8](repeating: 0, count: blocks * 16), using: key, nonce: try! AES._CTR.Nonce(nonceBytes: counter))
        var result = [UInt64](repeating: 0, count: count)
        result.withUnsafeMutableBytes { target in
            stream.withUnsafeBytes { source in target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<bytes])) }
        }
        return result
    }
}
