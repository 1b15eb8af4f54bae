#if canImport(Glibc)
import Glibc
#endif

/// Socket addresses of configured hosts (getaddrinfo), IPv4 and IPv6 alike.
enum Addresses {
    struct Address {
        private var storage = sockaddr_storage()
        private var length: socklen_t

        init(_ pointer: UnsafePointer<sockaddr>, length: socklen_t) {
            self.length = length
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: Int(length))) }
        }

        var family: Int32 { Int32(storage.ss_family) }

        func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
            withUnsafeBytes(of: storage) { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self), length) }
        }

        var port: Int {
            withUnsafeBytes(of: storage) { raw in
                family == AF_INET6 ? Int(UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port))
                    : Int(UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port))
            }
        }

        mutating func setPort(_ port: Int) {
            let value = in_port_t(UInt16(port).bigEndian)
            let isV6 = family == AF_INET6
            withUnsafeMutableBytes(of: &storage) { raw in
                if isV6 { raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_port = value }
                else { raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port = value }
            }
        }

        /// 127.0.0.0/8, ::1, or an IPv4-mapped 127.x address.
        var isLoopback: Bool {
            withUnsafeBytes(of: storage) { raw in
                if family == AF_INET { return withUnsafeBytes(of: raw.load(as: sockaddr_in.self).sin_addr) { $0[0] == 127 } }
                let bytes = withUnsafeBytes(of: raw.load(as: sockaddr_in6.self).sin6_addr) { Array($0) }
                let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
                return bytes == [UInt8](repeating: 0, count: 15) + [1] || (mapped && bytes[12] == 127)
            }
        }

        /// The address and port as text (`127.0.0.1:8000`, `[::1]:8000`).
        var text: String {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            withUnsafeBytes(of: storage) { raw in
                if family == AF_INET6 {
                    var address = raw.load(as: sockaddr_in6.self).sin6_addr
                    _ = inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
                } else {
                    var address = raw.load(as: sockaddr_in.self).sin_addr
                    _ = inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
                }
            }
            let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)"
        }

        /// The remote end of a connected socket.
        static func peer(of fd: Int32) -> Address? {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let status = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) } }
            guard status == 0 else { return nil }
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Address($0, length: length) } }
        }

        /// The port a bound socket got.
        func localPort(of fd: Int32) -> Int {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Address($0, length: length).port } }
        }
    }

    /// Every distinct TCP address `host` resolves to, with `port` (`passive`: for binding).
    static func resolve(_ host: String, port: Int, passive: Bool = false) throws -> [Address] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0 else { throw PeerError("cannot resolve the host \(host): \(String(cString: gai_strerror(status)))") }
        defer { freeaddrinfo(result) }
        var addresses: [Address] = [], seen: Set<String> = []
        var next = result
        while let entry = next {
            if let pointer = entry.pointee.ai_addr {
                let address = Address(pointer, length: entry.pointee.ai_addrlen)
                if seen.insert(address.text).inserted { addresses.append(address) }
            }
            next = entry.pointee.ai_next
        }
        return addresses
    }
}
