public import TesseraPlatform
public import VelocyStream

/// The metrics of one process, served as Prometheus text by `GET /_admin/metrics/v2`
/// (``MetricsRoutes``). The server records every request and connection here; a role adds its
/// own figures (shard engines, Raft, replication) with ``register(_:)``, a collector called at
/// each scrape.
///
/// Names follow ArangoDB where ArangoDB has the same metric
/// (`arangodb_http_request_statistics_*`, `arangodb_client_connection_statistics_*`,
/// `arangodb_agency_term`); Tessera's own start with `tessera_`.
///
/// `Sendable`: the counters are behind a lock; requests record from the loop thread, scrapes
/// may come from anywhere.
public final class Metrics: Sendable {
    let state = Locked(State())
    let collectors = Locked<[(name: String, collect: @Sendable (inout PrometheusText) -> Void)]>([])

    /// Upper bounds (seconds) of the request-duration histogram buckets; `+Inf` follows.
    public static let durationBucketsSeconds: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]

    struct RouteKey: Hashable, Comparable {
        let route: String
        let method: RequestMethod
        static func < (lhs: RouteKey, rhs: RouteKey) -> Bool {
            (lhs.route, lhs.method.rawValue) < (rhs.route, rhs.method.rawValue)
        }
    }

    struct Histogram {
        var buckets = [UInt64](repeating: 0, count: Metrics.durationBucketsSeconds.count)
        var count: UInt64 = 0
        var sum: Double = 0

        mutating func record(_ seconds: Double) {
            count += 1
            sum += seconds
            // Buckets hold what falls at or below their bound only; cumulated at exposition.
            if let index = Metrics.durationBucketsSeconds.firstIndex(where: { seconds <= $0 }) { buckets[index] += 1 }
        }
    }

    struct RouteFigures {
        /// Answers by status: a route answers with a handful of statuses, so a short list
        /// searched from the front costs less per request than hashing.
        var statusCounts: [(status: Int, count: UInt64)] = []
        var duration = Histogram()

        mutating func record(status: Int, seconds: Double) {
            if let index = statusCounts.firstIndex(where: { $0.status == status }) {
                statusCounts[index].count += 1
            } else {
                statusCounts.append((status, 1))
            }
            duration.record(seconds)
        }

        var statuses: [Int: UInt64] { Dictionary(uniqueKeysWithValues: statusCounts.map { ($0.status, $0.count) }) }
    }

    struct State {
        /// Figures by route, in the order routes were first seen; `routeIndexes` finds them.
        var routeFigures: [RouteFigures] = []
        var routeIndexes: [RouteKey: Int] = [:]
        /// The route recorded last and its index: consecutive requests mostly take the same
        /// route, and comparing the pattern (usually the very same string) costs less than
        /// hashing it.
        var lastRoute: (key: RouteKey, index: Int)?

        var routes: [RouteKey: RouteFigures] { routeIndexes.mapValues { routeFigures[$0] } }
        /// Requests by method, indexed by the method's raw value (0...6).
        var byMethod = [UInt64](repeating: 0, count: RequestMethod.allCases.count)
        var total: UInt64 = 0
        var superuser: UInt64 = 0
        var user: UInt64 = 0
        var totalTime = Histogram()
        var openConnections: [String: Int] = [:]
        var acceptedConnections: [String: UInt64] = [:]
        var refusedConnections: UInt64 = 0
        var protocolErrors: [String: UInt64] = [:]
    }

    public init() {}

    /// Adds a collector that writes its figures at every scrape. `name` orders the collectors
    /// (and so the exposition) the same way in every process.
    public func register(_ name: String, _ collect: @escaping @Sendable (inout PrometheusText) -> Void) {
        collectors.withLock { list in
            list.append((name, collect))
            list.sort { $0.name < $1.name }
        }
    }

    /// Records one answered request. `route` is the pattern that matched (or `unmatched`),
    /// `user` the authenticated user; users named `_cluster:…` are servers (ArangoDB's
    /// "superuser" requests).
    func recordRequest(route: String, method: RequestMethod, status: Int, seconds: Double, user: String?) {
        state.withLock { state in
            state.total += 1
            state.byMethod[Int(method.rawValue)] += 1
            if let user {
                if user.hasPrefix("_cluster:") { state.superuser += 1 } else { state.user += 1 }
            }
            state.totalTime.record(seconds)
            let key = RouteKey(route: route, method: method)
            let index: Int
            if let last = state.lastRoute, last.key == key {
                index = last.index
            } else if let known = state.routeIndexes[key] {
                index = known
            } else {
                index = state.routeFigures.count
                state.routeFigures.append(RouteFigures())
                state.routeIndexes[key] = index
            }
            state.routeFigures[index].record(status: status, seconds: seconds)
            state.lastRoute = (key, index)
        }
    }

    func connectionOpened(protocol name: String) {
        state.withLock {
            $0.openConnections[name, default: 0] += 1
            $0.acceptedConnections[name, default: 0] += 1
        }
    }

    /// A connection that was counted under `name` (the sniffing state, `unknown`, moves to
    /// `vst` or `http` once its first bytes told).
    func connectionChanged(from old: String, to new: String) {
        state.withLock {
            $0.openConnections[old, default: 0] -= 1
            $0.openConnections[new, default: 0] += 1
            $0.acceptedConnections[new, default: 0] += 1
        }
    }

    func connectionClosed(protocol name: String) {
        state.withLock { $0.openConnections[name, default: 0] -= 1 }
    }

    func connectionRefused() { state.withLock { $0.refusedConnections += 1 } }

    func protocolError(_ kind: String) { state.withLock { $0.protocolErrors[kind, default: 0] += 1 } }

    /// Every metric in Prometheus' text format (version 0.0.4).
    public func exposition() -> String {
        var text = PrometheusText()
        let state = self.state.withLock { $0 }
        let methods: [(RequestMethod, String)] = [(.delete, "delete"), (.get, "get"), (.head, "head"), (.options, "options"),
                                                   (.patch, "patch"), (.post, "post"), (.put, "put")]
        text.counter("arangodb_http_request_statistics_total_requests_total", "Total number of requests (HTTP and VelocyStream)", state.total)
        for (method, name) in methods {
            text.counter("arangodb_http_request_statistics_http_\(name)_requests_total", "Number of \(name.uppercased()) requests",
                         state.byMethod[Int(method.rawValue)])
        }
        text.counter("arangodb_http_request_statistics_superuser_requests_total", "Requests by servers of the cluster (cluster tokens)", state.superuser)
        text.counter("arangodb_http_request_statistics_user_requests_total", "Requests by authenticated users", state.user)
        text.gauge("arangodb_client_connection_statistics_client_connections", "Client connections open now",
                   Double(state.openConnections.values.reduce(0, +)))
        text.histogram("arangodb_client_connection_statistics_total_time", "Seconds from a request's arrival to its answer",
                       state.totalTime)
        text.help("tessera_connections_open", "Connections open now, by protocol (unknown: first bytes not seen yet)", type: "gauge")
        for name in state.openConnections.keys.sorted() {
            text.sample("tessera_connections_open", ["protocol": name], Double(state.openConnections[name]!))
        }
        text.help("tessera_connections_accepted_total", "Connections accepted, by protocol", type: "counter")
        for name in state.acceptedConnections.keys.sorted() {
            text.sample("tessera_connections_accepted_total", ["protocol": name], Double(state.acceptedConnections[name]!))
        }
        text.counter("tessera_connections_refused_total", "Connections closed at once (connection limit or shutdown)", state.refusedConnections)
        text.help("tessera_protocol_errors_total", "Connections ended by bytes that break the protocol, by kind", type: "counter")
        for kind in state.protocolErrors.keys.sorted() {
            text.sample("tessera_protocol_errors_total", ["kind": kind], Double(state.protocolErrors[kind]!))
        }
        let routeFigures = state.routes
        let routes = routeFigures.keys.sorted()
        text.help("tessera_requests_total", "Requests answered, by route pattern, method and status", type: "counter")
        for key in routes {
            let figures = routeFigures[key]!
            for status in figures.statuses.keys.sorted() {
                text.sample("tessera_requests_total", ["route": key.route, "method": key.method.description, "status": String(status)],
                            Double(figures.statuses[status]!))
            }
        }
        text.help("tessera_request_duration_seconds", "Seconds from a request's arrival to its answer, by route pattern and method",
                  type: "histogram")
        for key in routes {
            text.histogramSamples("tessera_request_duration_seconds", ["route": key.route, "method": key.method.description],
                                  routeFigures[key]!.duration)
        }
        for collector in collectors.withLock({ $0 }) { collector.collect(&text) }
        return text.text
    }
}

/// Prometheus' text exposition format, written line by line: `# HELP`, `# TYPE`, then samples
/// `name{label="value",…} number`.
public struct PrometheusText: Sendable {
    public private(set) var text = ""

    public init() {}

    /// The `# HELP` and `# TYPE` lines of a metric family.
    public mutating func help(_ name: String, _ help: String, type: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    /// One sample; labels are written in sorted order.
    public mutating func sample(_ name: String, _ labels: [String: String] = [:], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.keys.sorted().map { "\($0)=\"\(Self.escaped(labels[$0]!))\"" }.joined(separator: ",") + "}"
        }
        text += " " + Self.number(value) + "\n"
    }

    public mutating func counter(_ name: String, _ help: String, _ value: UInt64) {
        self.help(name, help, type: "counter")
        sample(name, [:], Double(value))
    }

    public mutating func gauge(_ name: String, _ help: String, _ value: Double, _ labels: [String: String] = [:]) {
        self.help(name, help, type: "gauge")
        sample(name, labels, value)
    }

    mutating func histogram(_ name: String, _ help: String, _ histogram: Metrics.Histogram) {
        self.help(name, help, type: "histogram")
        histogramSamples(name, [:], histogram)
    }

    mutating func histogramSamples(_ name: String, _ labels: [String: String], _ histogram: Metrics.Histogram) {
        var cumulative: UInt64 = 0
        for (bound, count) in zip(Metrics.durationBucketsSeconds, histogram.buckets) {
            cumulative += count
            sample(name + "_bucket", labels.merging(["le": Self.number(bound)]) { $1 }, Double(cumulative))
        }
        sample(name + "_bucket", labels.merging(["le": "+Inf"]) { $1 }, Double(histogram.count))
        sample(name + "_sum", labels, histogram.sum)
        sample(name + "_count", labels, Double(histogram.count))
    }

    /// Label values escape backslash, double quote and newline (the format's three).
    static func escaped(_ value: String) -> String {
        var result = ""
        for character in value {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result
    }

    /// Integers without a fraction, others as Swift prints doubles (which Prometheus reads).
    static func number(_ value: Double) -> String {
        if value.isFinite && value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}

/// `GET /_admin/metrics/v2`: the process's ``Metrics`` in Prometheus' text format, on every
/// role (authenticated like every other route: a user on single servers and coordinators, a
/// cluster token on agents and DBServers).
public enum MetricsRoutes {
    /// The content type of Prometheus' text format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func register(in router: inout Router, metrics: Metrics) {
        router.add(.get, "/_admin/metrics/v2") { _ in
            ServerResponse(status: 200, text: metrics.exposition(), contentType: contentType)
        }
    }
}
