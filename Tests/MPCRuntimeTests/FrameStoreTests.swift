import Testing

@testable import MPCRuntime

/// A prepared inference's frames come back in order and intact, whether they stayed in
/// memory or went to the temporary file.
@Suite struct FrameStoreTests {
    @Test(arguments: [0, 100, 1 << 20])
    func framesComeBackInOrder(_ memoryLimit: Int) throws {
        let store = FrameStore(memoryLimit: memoryLimit)
        let frames = (0..<40).map { index in (0..<(index * 37 % 300)).map { UInt8(truncatingIfNeeded: $0 * 7 + index) } }
        for frame in frames { try store.append(frame) }
        #expect(store.bytes == frames.reduce(0) { $0 + $1.count })
        for frame in frames { #expect(try store.next() == frame) }
        #expect(try store.next() == nil)
    }

    @Test func anUnwritableTemporaryDirectoryIsOneSentence() throws {
        let store = FrameStore(memoryLimit: 0, directory: "/proc/mpcr-no-such-directory")
        #expect {
            try store.append([1, 2, 3])
        } throws: { error in
            let message = (error as? ConfigError)?.message ?? ""
            return message.hasPrefix("cannot create the prepared material's temporary file in /proc/mpcr-no-such-directory") && !message.contains("\n")
        }
    }
}
