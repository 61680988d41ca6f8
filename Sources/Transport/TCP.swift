internal import CLibUV

#if canImport(Glibc)
import Glibc
#endif

/// A failure reported by libuv, with its name and message.
public struct TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// libuv's negative error code (for example `UV_ECONNREFUSED`).
    public let code: Int32
    /// What was being done.
    public let operation: String

    init(_ code: Int32, _ operation: String) {
        self.code = code
        self.operation = operation
    }

    public var description: String {
        "\(operation): \(String(cString: uv_err_name(code))) (\(String(cString: uv_strerror(code))))"
    }
}

/// An address to listen on or connect to, in the loopback-friendly form `HOST:PORT`.
public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `tcp://HOST:PORT` or `HOST:PORT` (IPv4, or `[IPv6]`).
    public init?(_ text: String) {
        var rest = Substring(text)
        if rest.hasPrefix("tcp://") { rest = rest.dropFirst(6) }
        guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]) else { return nil }
        var host = rest[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { return nil }
        self.init(host: String(host), port: port)
    }

    public var description: String { host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)" }

    /// The socket address, or the libuv error for a host that is not a numeric address.
    func withSocketAddress<R>(_ body: (UnsafePointer<sockaddr>) -> R) throws(TransportError) -> R {
        var storage = sockaddr_storage()
        let result: Int32 = withUnsafeMutableBytes(of: &storage) { raw in
            if host.contains(":") {
                return uv_ip6_addr(host, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self))
            }
            return uv_ip4_addr(host, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self))
        }
        guard result == 0 else { throw TransportError(result, "address \(host)") }
        return withUnsafeBytes(of: &storage) { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self)) }
    }
}

/// A TCP listener on an ``EventLoop``. Create and use it on the loop thread.
///
/// `@unchecked Sendable`: confined to the loop thread (asserted on every use).
public final class TCPListener: LoopClosable, @unchecked Sendable {
    let eventLoop: EventLoop
    let handle: UnsafeMutablePointer<uv_tcp_t>
    let onConnection: (TCPConnection) -> Void
    var closed = false
    /// The port actually bound (useful when port 0 asked for any free port).
    public private(set) var port: UInt16 = 0

    /// Binds and listens on `endpoint`; `onConnection` runs on the loop thread for every
    /// accepted connection.
    public init(on eventLoop: EventLoop, endpoint: Endpoint, backlog: Int32 = 511,
                onConnection: @escaping (TCPConnection) -> Void) throws(TransportError) {
        eventLoop.assertInLoopThread("TCPListener.init")
        self.eventLoop = eventLoop
        self.onConnection = onConnection
        handle = .allocate(capacity: 1)
        uv_tcp_init(eventLoop.loop, handle)
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
        eventLoop.register(self)
        do throws(TransportError) {
            let bound = try endpoint.withSocketAddress { uv_tcp_bind(handle, $0, 0) }
            guard bound == 0 else { throw TransportError(bound, "bind \(endpoint)") }
            let listening = uv_listen(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self), backlog) { server, status in
                let listener = Unmanaged<TCPListener>.fromOpaque(server!.pointee.data).takeUnretainedValue()
                listener.accept(status: status)
            }
            guard listening == 0 else { throw TransportError(listening, "listen \(endpoint)") }
            port = boundPort()
        } catch {
            close()
            throw error
        }
    }

    func boundPort() -> UInt16 {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutableBytes(of: &storage) {
            uv_tcp_getsockname(handle, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        guard result == 0 else { return 0 }
        return withUnsafeBytes(of: &storage) { raw in
            // sin_port and sin6_port sit at the same offset, in network byte order.
            UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
        }
    }

    func accept(status: Int32) {
        guard status == 0, !closed else { return }
        let connection = TCPConnection(on: eventLoop)
        let result = uv_accept(
            UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self),
            UnsafeMutableRawPointer(connection.handle).assumingMemoryBound(to: uv_stream_t.self))
        guard result == 0 else {
            connection.close()
            return
        }
        connection.isOpen = true
        onConnection(connection)
    }

    /// Stops listening; open connections stay open.
    public func close() {
        eventLoop.assertInLoopThread("TCPListener.close")
        guard !closed else { return }
        closed = true
        eventLoop.unregister(self)
        closeHandleReleasingOwner(handle)
    }

    func closeForShutdown() { close() }
}

/// One TCP connection on an ``EventLoop``, accepted or connected. Use it on the loop thread.
///
/// Reading delivers bytes to ``onRead`` as they arrive. Writes are queued; while more than
/// ``writeQueueByteCountHigh`` bytes wait to be sent, reading pauses (a peer that does not
/// read its replies stops being read from), and resumes below ``writeQueueByteCountLow``.
///
/// `@unchecked Sendable`: confined to the loop thread (asserted on every use).
public final class TCPConnection: LoopClosable, @unchecked Sendable {
    let eventLoop: EventLoop
    let handle: UnsafeMutablePointer<uv_tcp_t>
    var isOpen = false
    var closeRequested = false
    var reading = false
    var wantsReading = false
    var readBuffer: UnsafeMutableRawBufferPointer
    /// Output queued in this loop iteration, sent by `flush()` at its end.
    var pendingOutput: [UInt8] = []
    var flushScheduled = false
    /// Bytes handed to libuv write requests and not yet written, and each request's size.
    var inFlightByteCount = 0
    var inFlightWriteSizes: [Int] = []
    /// Set by ``closeAfterWriting()``.
    var closeWhenDrained = false
    /// Output buffers grown beyond this are released after a flush instead of kept.
    static let retainedOutputCapacityMax = 1 << 20

    /// Bytes queued and not yet written by the kernel's socket buffer.
    public var writeQueueByteCount: Int { pendingOutput.count + inFlightByteCount }

    /// Pause reading above this many queued bytes.
    public var writeQueueByteCountHigh = 4 << 20
    /// Resume reading below this many queued bytes.
    public var writeQueueByteCountLow = 1 << 20
    /// The size of the buffer each read fills.
    public static let readBufferByteCount = 64 << 10

    /// Whether reading pauses while the write queue is above ``writeQueueByteCountHigh``. A
    /// server wants it (a peer that does not read its answers stops being read); a client
    /// must not, or a client with many requests queued and a server with many answers queued
    /// would each wait for the other.
    public var pausesReadingWhenBacklogged = true

    /// Bytes received; runs on the loop thread.
    public var onRead: ((UnsafeRawBufferPointer) -> Void)?
    /// Runs when the write queue drops to ``writeQueueByteCountLow`` or below after writes
    /// completed: the moment to produce more output.
    public var onDrain: (() -> Void)?
    /// Runs once when the connection is closed, with the error if one closed it (`nil` for a
    /// clean end of stream or a local close).
    public var onClose: ((TransportError?) -> Void)?

    init(on eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        handle = .allocate(capacity: 1)
        readBuffer = .allocate(byteCount: Self.readBufferByteCount, alignment: 16)
        uv_tcp_init(eventLoop.loop, handle)
        uv_tcp_nodelay(handle, 1)
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
        eventLoop.register(self)
    }

    /// Connects to `endpoint`; `completion` runs on the loop thread with the open connection
    /// or the error.
    public static func connect(on eventLoop: EventLoop, to endpoint: Endpoint,
                               completion: @escaping (Result<TCPConnection, TransportError>) -> Void) {
        eventLoop.assertInLoopThread("TCPConnection.connect")
        let connection = TCPConnection(on: eventLoop)
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        let pending = PendingConnect(connection: connection, completion: completion)
        request.pointee.data = Unmanaged.passRetained(pending).toOpaque()
        let result: Int32
        do throws(TransportError) {
            result = try endpoint.withSocketAddress { address in
                uv_tcp_connect(request, connection.handle, address) { request, status in
                    let pending = Unmanaged<PendingConnect>.fromOpaque(request!.pointee.data).takeRetainedValue()
                    request!.deallocate()
                    pending.finish(status)
                }
            }
        } catch {
            Unmanaged<PendingConnect>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            connection.close()
            completion(.failure(error))
            return
        }
        if result != 0 {
            Unmanaged<PendingConnect>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            connection.close()
            completion(.failure(TransportError(result, "connect \(endpoint)")))
        }
    }

    final class PendingConnect {
        let connection: TCPConnection
        let completion: (Result<TCPConnection, TransportError>) -> Void
        init(connection: TCPConnection, completion: @escaping (Result<TCPConnection, TransportError>) -> Void) {
            self.connection = connection
            self.completion = completion
        }
        func finish(_ status: Int32) {
            if status == 0 && !connection.closeRequested {
                connection.isOpen = true
                completion(.success(connection))
            } else {
                connection.close()
                completion(.failure(TransportError(status == 0 ? UV_ECANCELED.rawValue : status, "connect")))
            }
        }
    }

    var stream: UnsafeMutablePointer<uv_stream_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self)
    }

    /// Starts delivering received bytes to ``onRead``.
    public func startReading() {
        eventLoop.assertInLoopThread("TCPConnection.startReading")
        wantsReading = true
        resumeReadingIfAllowed()
    }

    /// Stops delivering received bytes until ``startReading()``.
    public func stopReading() {
        eventLoop.assertInLoopThread("TCPConnection.stopReading")
        wantsReading = false
        pauseReading()
    }

    func resumeReadingIfAllowed() {
        guard isOpen, !closeRequested, wantsReading, !reading,
              !pausesReadingWhenBacklogged || writeQueueByteCount <= writeQueueByteCountLow else { return }
        reading = true
        uv_read_start(stream, { handle, _, buffer in
            let connection = Unmanaged<TCPConnection>.fromOpaque(handle!.pointee.data).takeUnretainedValue()
            buffer!.pointee.base = connection.readBuffer.baseAddress!.assumingMemoryBound(to: CChar.self)
            buffer!.pointee.len = connection.readBuffer.count
        }, { stream, count, _ in
            let connection = Unmanaged<TCPConnection>.fromOpaque(stream!.pointee.data).takeUnretainedValue()
            connection.received(count)
        })
    }

    func pauseReading() {
        guard reading else { return }
        reading = false
        uv_read_stop(stream)
    }

    func received(_ count: Int) {
        if count > 0 {
            onRead?(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(readBuffer)[0..<count]))
        } else if count < 0 {
            let code = Int32(count)
            close(error: code == UV_EOF.rawValue ? nil : TransportError(code, "read"))
        }
    }

    /// Queues `bytes` to be sent. Ignored after the connection closed.
    public func write(_ bytes: [UInt8]) {
        write { $0.append(contentsOf: bytes) }
    }

    /// Queues output by appending it to the connection's buffer in place (no intermediate
    /// array). Everything queued during one loop iteration leaves in one system call when the
    /// iteration's I/O callbacks are done. Ignored after the connection closed.
    public func write(_ append: (inout [UInt8]) -> Void) {
        eventLoop.assertInLoopThread("TCPConnection.write")
        guard isOpen, !closeRequested, !closeWhenDrained else { return }
        append(&pendingOutput)
        if !flushScheduled && !pendingOutput.isEmpty {
            flushScheduled = true
            eventLoop.scheduleFlush(self)
        }
        if pausesReadingWhenBacklogged && writeQueueByteCount > writeQueueByteCountHigh { pauseReading() }
    }

    /// Hands the queued output to the kernel: directly when nothing else is in flight (no copy),
    /// otherwise (or for what the socket did not take) as a libuv write request.
    func flush() {
        flushScheduled = false
        guard isOpen, !closeRequested, !pendingOutput.isEmpty else { return }
        var sent = 0
        if inFlightByteCount == 0 {
            let result = pendingOutput.withUnsafeMutableBytes { raw -> Int32 in
                var buffer = uv_buf_init(raw.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(raw.count))
                return uv_try_write(stream, &buffer, 1)
            }
            if result >= 0 {
                sent = Int(result)
            } else if result != UV_EAGAIN.rawValue {
                close(error: TransportError(result, "write"))
                return
            }
        }
        if sent < pendingOutput.count {
            let remaining = pendingOutput.count - sent
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: remaining, alignment: 1)
            pendingOutput.withUnsafeBytes { copy.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[sent...])) }
            let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
            request.pointee.data = UnsafeMutableRawPointer(copy.baseAddress!)
            var buffer = uv_buf_init(copy.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(remaining))
            let result = uv_write(request, stream, &buffer, 1) { request, status in
                let connection = Unmanaged<TCPConnection>.fromOpaque(request!.pointee.handle.pointee.data).takeUnretainedValue()
                let byteCount = connection.inFlightWriteSizes.removeFirst()
                request!.pointee.data.deallocate()  // the copy of the bytes
                request!.deallocate()
                connection.written(status: status, byteCount: byteCount)
            }
            guard result == 0 else {
                copy.deallocate()
                request.deallocate()
                close(error: TransportError(result, "write"))
                return
            }
            // libuv completes a stream's writes in the order they were queued.
            inFlightWriteSizes.append(remaining)
            inFlightByteCount += remaining
        }
        // A huge reply must not pin its buffer for the connection's lifetime.
        if pendingOutput.capacity > Self.retainedOutputCapacityMax {
            pendingOutput = []
        } else {
            pendingOutput.removeAll(keepingCapacity: true)
        }
        writeProgressed()
    }

    func written(status: Int32, byteCount: Int) {
        inFlightByteCount -= byteCount
        guard !closeRequested else { return }
        if status != 0 {
            close(error: TransportError(status, "write"))
            return
        }
        writeProgressed()
    }

    func writeProgressed() {
        if writeQueueByteCount == 0 && closeWhenDrained {
            close()
            return
        }
        resumeReadingIfAllowed()
        if writeQueueByteCount <= writeQueueByteCountLow && !closeWhenDrained { onDrain?() }
    }

    /// Stops reading, sends everything queued, then closes: the graceful end of a connection
    /// (an error reply before the close, or a server shutdown that finishes its replies).
    public func closeAfterWriting() {
        eventLoop.assertInLoopThread("TCPConnection.closeAfterWriting")
        guard isOpen, !closeRequested, !closeWhenDrained else { return }
        closeWhenDrained = true
        wantsReading = false
        pauseReading()
        if writeQueueByteCount == 0 { close() }
    }

    /// Closes the connection; queued writes are cancelled. ``onClose`` runs once.
    public func close() { close(error: nil) }

    func close(error: TransportError?) {
        guard !closeRequested else { return }
        closeRequested = true
        isOpen = false
        reading = false
        eventLoop.unregister(self)
        let onClose = self.onClose
        self.onClose = nil
        onRead = nil
        onDrain = nil
        uv_close(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)) { raw in
            let tcp = UnsafeMutableRawPointer(raw!).assumingMemoryBound(to: uv_tcp_t.self)
            let connection = Unmanaged<TCPConnection>.fromOpaque(tcp.pointee.data).takeRetainedValue()
            connection.readBuffer.deallocate()
            tcp.deallocate()
        }
        onClose?(error)
    }

    func closeForShutdown() { close() }

    /// Whether the connection is open (accepted or connected, and not closed).
    public var isConnected: Bool { isOpen && !closeRequested }
}
