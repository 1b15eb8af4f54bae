import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The frames of one prepared inference, read back in arrival order: the first ones in
/// memory up to `memoryLimit` bytes, the rest in a temporary file that is unlinked as
/// soon as it is made (the kernel frees it when the store goes). A server that prepares
/// an inference ahead keeps all the helper's material for it, hundreds of MB for
/// ResNet50, and this bounds the part of it that counts against its memory.
final class FrameStore: @unchecked Sendable {
    private let memoryLimit: Int
    private let directory: String
    private var memory: [[UInt8]] = []
    private var memoryBytes = 0
    private var nextInMemory = 0
    private var file: Int32 = -1
    private var writeOffset = 0, readOffset = 0
    private var spilled = 0, nextSpilled = 0
    /// Payload bytes appended.
    private(set) var bytes = 0

    /// `directory`: where the file goes ($TMPDIR or /tmp unless a test says otherwise).
    init(memoryLimit: Int, directory: String = FileManager.default.temporaryDirectory.path) {
        self.memoryLimit = memoryLimit
        self.directory = directory
    }

    deinit { if file >= 0 { Glibc.close(file) } }

    func append(_ frame: [UInt8]) throws {
        bytes += frame.count
        if file < 0 && memoryBytes + frame.count <= memoryLimit {
            memory.append(frame)
            memoryBytes += frame.count
            return
        }
        if file < 0 { file = try temporaryFile() }
        try withUnsafeBytes(of: UInt32(frame.count).littleEndian) { try write($0) }
        try frame.withUnsafeBytes { try write($0) }
        spilled += 1
    }

    /// The next frame in arrival order, or nil after the last.
    func next() throws -> [UInt8]? {
        if nextInMemory < memory.count {
            defer { memory[nextInMemory] = []; nextInMemory += 1 }
            return memory[nextInMemory]
        }
        guard nextSpilled < spilled else { return nil }
        nextSpilled += 1
        var length: UInt32 = 0
        try withUnsafeMutableBytes(of: &length) { try read($0) }
        let count = Int(UInt32(littleEndian: length))
        return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    private func write(_ buffer: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let written = pwrite(file, buffer.baseAddress! + done, buffer.count - done, off_t(writeOffset + done))
            guard written > 0 else { throw failure("write", errno) }
            done += written
        }
        writeOffset += done
    }

    private func read(_ buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let count = pread(file, buffer.baseAddress! + done, buffer.count - done, off_t(readOffset + done))
            guard count > 0 else { throw failure("read back", count == 0 ? EIO : errno) }
            done += count
        }
        readOffset += done
    }

    /// A new file in `directory`, already unlinked.
    private func temporaryFile() throws -> Int32 {
        var template = Array("\(directory)/mpcr-material-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else { throw failure("create", errno) }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return descriptor
    }

    private func failure(_ action: String, _ code: Int32) -> ConfigError {
        ConfigError("cannot \(action) the prepared material's temporary file in \(directory): "
            + "\(String(cString: strerror(code))) (set TMPDIR to a directory with room, or raise --material-memory)")
    }
}
