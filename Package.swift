// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "symbolstream",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "symbolstream", targets: ["symbolstream"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries, wrapped by thin Swift layers; nothing else imports them.
        .systemLibrary(
            name: "CHiredis",
            // No pkgConfig: hiredis' .pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM
            // refuses with a warning; the headers are found under <hiredis/…> anyway.
            providers: [.apt(["libhiredis-dev"])]
        ),
        .systemLibrary(
            name: "CMariaDB",
            pkgConfig: "libmariadb",
            providers: [.apt(["libmariadb-dev"])]
        ),
        // A small non-blocking Redis client: NIO channels, hiredis as the RESP codec.
        .target(
            name: "RedisClient",
            dependencies: [
                "CHiredis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Dates of the proleptic Gregorian calendar, shared by the domain and the MariaDB client.
        .target(name: "CivilCalendar"),
        // A small MariaDB client: Connector/C calls run on a thread pool, never on an event loop.
        .target(
            name: "MariaDBClient",
            dependencies: [
                "CMariaDB", "CivilCalendar",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Pure domain logic: no I/O.
        .target(name: "SymbolStreamCore", dependencies: ["CivilCalendar"]),
        // Aggregates, uuid map and the durable event log in Redis (Redis functions).
        .target(
            name: "RedisStore",
            dependencies: [
                "SymbolStreamCore", "RedisClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The function library, compiled into the binary (PackageResources):
            // nothing to install beside it.
            resources: [.embedInCode("symbolstream.lua")]
        ),
        // Raw history in MariaDB: schema, archiver, rebuild, verify. Reads the
        // Redis side through RedisStore only.
        .target(
            name: "MariaDBArchive",
            dependencies: [
                "SymbolStreamCore", "MariaDBClient", "RedisStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // HTTP routes and the application builder.
        .target(
            name: "SymbolStreamServer",
            dependencies: [
                "SymbolStreamCore", "RedisStore", "MariaDBArchive", "RedisClient", "MariaDBClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "symbolstream",
            dependencies: [
                "SymbolStreamServer", "SymbolStreamCore", "RedisStore", "MariaDBArchive", "MariaDBClient", "RedisClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Benchmark ceiling: Hummingbird doing no work (bench/run.sh).
        .executableTarget(
            name: "noop-server",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "bench/NoopServer"
        ),
        // Load generator for /stream (bench/run.sh): batches of events over N WebSockets.
        .executableTarget(
            name: "stream-client",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "bench/StreamClient"
        ),

        // What every test target may share: a manual clock for timing tests,
        // and the one way tests start child processes (posix_spawn + waitpid).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SymbolStreamCoreTests", dependencies: ["SymbolStreamCore", "CivilCalendar"]),
        .testTarget(
            name: "RedisClientTests",
            dependencies: [
                "RedisClient", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "MariaDBClientTests", dependencies: ["MariaDBClient", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        // Starts (through provisioning/stores.sh) the Redis Cluster that cluster
        // tests run against, kills and restarts its nodes, moves its slots.
        .target(
            name: "ClusterTestSupport",
            dependencies: [
                "RedisClient", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/ClusterTestSupport"
        ),
        // RedisClusterClient: slot map and redirect parsing alone, and routing,
        // redirects, failover and bad seeds against a real cluster.
        .testTarget(
            name: "RedisClusterTests",
            dependencies: [
                "RedisClient", "ClusterTestSupport", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Finds (or starts, through provisioning/stores.sh) the real Redis and
        // MariaDB that store tests run against.
        .target(
            name: "StoreTestSupport",
            dependencies: [
                "RedisClient", "MariaDBClient", "RedisStore", "SymbolStreamCore", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/StoreTestSupport"
        ),
        .testTarget(
            name: "RedisStoreTests",
            dependencies: [
                "RedisStore", "RedisClient", "SymbolStreamCore", "StoreTestSupport",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "MariaDBArchiveTests",
            dependencies: [
                "MariaDBArchive", "RedisStore", "RedisClient", "SymbolStreamCore", "StoreTestSupport", "MariaDBClient", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SymbolStreamServerTests",
            dependencies: [
                "SymbolStreamServer", "SymbolStreamCore", "MariaDBArchive", "RedisStore", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The /stream WebSocket: message suite over a real socket, and
        // equivalence with HTTP on the real Redis.
        .testTarget(
            name: "StreamTests",
            dependencies: [
                "SymbolStreamServer", "SymbolStreamCore", "RedisStore", "RedisClient", "StoreTestSupport", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
            ]
        ),
    ]
)

// Every Swift target (as sqlite-nio does): existentials spelled `any`, and a
// file uses only members of the modules it imports itself.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
    ]
}
