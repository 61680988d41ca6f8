import Foundation
import VelocyStream

/// A plain blocking TCP socket with a receive timeout: talks to the server byte by byte, the
/// way a hostile or broken peer would, without going through Tessera's own transport.
final class RawSocket {
    let descriptor: Int32

    init(port: UInt16, receiveTimeoutSeconds: Int = 10) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure("socket") }
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(descriptor)
            throw Failure("connect: \(String(cString: strerror(errno)))")
        }
    }

    /// A connection a ``RawListener`` accepted.
    init(accepted descriptor: Int32, receiveTimeoutSeconds: Int = 10) {
        self.descriptor = descriptor
        var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Exactly `count` bytes, or `nil` when the peer closes or the timeout passes first.
    func read(exactly count: Int) -> [UInt8]? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: count)
        while received.count < count {
            let got = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, count - received.count, 0) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return nil }
            received.append(contentsOf: buffer[0..<got])
        }
        return received
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    deinit { close(descriptor) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Foundation.send(descriptor, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return }  // the server may have closed already; the reads tell
            offset += sent
        }
    }

    /// What the server sends before it closes the connection, or `nil` if it is still open
    /// when the receive timeout passes.
    func readUntilClosed() -> [UInt8]? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            if count == 0 { return received }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET { return received }
                return nil  // timed out: still open
            }
            received.append(contentsOf: buffer[0..<count])
        }
    }

    /// Reads until `count` complete messages arrived (or the timeout passed).
    func readMessages(_ count: Int, version: VSTVersion = .v1_1) throws -> [VSTMessage] {
        var decoder = VSTDecoder(version: version)
        var messages: [VSTMessage] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while messages.count < count {
            let got = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            guard got > 0 else { throw Failure("connection ended after \(messages.count) of \(count) messages") }
            decoder.append(buffer[0..<got])
            while let message = try decoder.nextMessage() { messages.append(message) }
        }
        return messages
    }
}

/// A plain listening socket on 127.0.0.1 (a port of the kernel's choice): plays a server
/// that answers however a test wants, to see what a Tessera client makes of it.
final class RawListener: Sendable {
    let descriptor: Int32
    let port: UInt16

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw RawSocket.Failure("socket") }
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && listen(descriptor, 4) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else {
            close(descriptor)
            throw RawSocket.Failure("bind/listen: \(String(cString: strerror(errno)))")
        }
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(descriptor) }

    /// The next connection; `nil` when accepting fails.
    func accept() -> RawSocket? {
        let connection = Foundation.accept(descriptor, nil, nil)
        return connection >= 0 ? RawSocket(accepted: connection) : nil
    }
}
