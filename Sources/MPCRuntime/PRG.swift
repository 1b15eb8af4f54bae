import CRingKernels
import Crypto
import _CryptoExtras

/// A pseudorandom generator shared by two parties: AES-256 in counter mode under a key
/// agreed for this session. The 128-bit counter block is (stream, block): each stream is
/// its own sequence, so every instruction of every inference draws from a stream of its
/// own (`stream(_:)`) and a party can draw an instruction's masks ahead of time, in any
/// order, and again later. Within a stream both parties draw the same values as long as
/// they draw in the same order, which each protocol fixes.
public final class PRG {
    private let key: SymmetricKey
    /// The AES-NI key schedule (aes_ctr.c), where the CPU has AES-NI; else swift-crypto.
    private let schedule: [UInt8]?
    private let stream: UInt64
    private var block: UInt64 = 0

    public convenience init(key: [UInt8]) {
        precondition(key.count == 32, "PRG keys are 256 bits")
        var schedule: [UInt8]? = nil
        if PRG.hardwareAES {
            schedule = [UInt8](repeating: 0, count: 240)
            mpc_aes256_expand(key, &schedule!)
        }
        self.init(key: SymmetricKey(data: key), schedule: schedule, stream: 0)
    }

    private init(key: SymmetricKey, schedule: [UInt8]?, stream: UInt64) {
        self.key = key
        self.schedule = schedule
        self.stream = stream
    }

    public static let hardwareAES = mpc_aes_available() != 0

    /// The start of stream `id` under the same key (stream 0 is this session's setup).
    public func stream(_ id: UInt64) -> PRG { PRG(key: key, schedule: schedule, stream: id) }

    /// The same draws through swift-crypto (tests check the hardware path against it).
    public func softwareStream(_ id: UInt64) -> PRG { PRG(key: key, schedule: nil, stream: id) }

    /// 32 bytes from the operating system's CSPRNG (getrandom on Linux).
    public static func freshKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } }
    }

    /// For each 128-bit seed (two words) the first `lengths[i]` words of the AES-128-CTR
    /// keystream under it (counter from 0), concatenated: one key stretched over a
    /// patch's pixels by the selection's oblivious transfers (SignAndSelect.swift).
    public static func expand(seeds: [UInt64], lengths: [Int32], hardware: Bool = hardwareAES) -> [UInt64] {
        let total = lengths.reduce(0) { $0 + Int($1) }
        guard total > 0 else { return [] }
        if hardware {
            return [UInt64](unsafeUninitializedCapacity: total) { buffer, initialized in
                mpc_aes128_expand_seeds(seeds, lengths.count, lengths, buffer.baseAddress!)
                initialized = total
            }
        }
        var result: [UInt64] = []
        result.reserveCapacity(total)
        for (index, length) in lengths.enumerated() {
            let key = SymmetricKey(data: seeds[(2 * index)..<(2 * index + 2)].withUnsafeBytes { Array($0) })
            let bytes = (Int(length) * 8 + 15) / 16 * 16
            let keystream = try! AES._CTR.encrypt([UInt8](repeating: 0, count: bytes), using: key,
                                                  nonce: try! AES._CTR.Nonce(nonceBytes: [UInt8](repeating: 0, count: 16)))
            keystream.withUnsafeBytes { raw in
                for word in 0..<Int(length) { result.append(raw.loadUnaligned(fromByteOffset: 8 * word, as: UInt64.self)) }
            }
        }
        return result
    }

    /// The next `count` uniformly random ring elements (or bit-plane words).
    public func words(_ count: Int) -> [UInt64] {
        guard count > 0 else { return [] }
        let bytes = count * 8
        let blocks = (bytes + 15) / 16
        if let schedule {
            defer { block += UInt64(blocks) }
            return [UInt64](unsafeUninitializedCapacity: 2 * blocks) { buffer, initialized in
                mpc_aes256_ctr(schedule, stream, block, buffer.baseAddress!, blocks)
                initialized = count
            }
        }
        var counter = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: stream.bigEndian) { counter.replaceSubrange(0..<8, with: $0) }
        withUnsafeBytes(of: block.bigEndian) { counter.replaceSubrange(8..<16, with: $0) }
        block += UInt64(blocks)
        let keystream = try! AES._CTR.encrypt([UInt8](repeating: 0, count: blocks * 16), using: key, nonce: try! AES._CTR.Nonce(nonceBytes: counter))
        var result = [UInt64](repeating: 0, count: count)
        result.withUnsafeMutableBytes { target in
            keystream.withUnsafeBytes { source in target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<bytes])) }
        }
        return result
    }
}
