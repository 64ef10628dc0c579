// swift-tools-version: 6.1
import PackageDescription

// How scripts/bench.sh links the benchmark's klife (it also passes --static-swift-stdlib, in a scratch path of its
// own): KLIFE_BENCH_LINK=lld links with the toolchain's lld and exports no symbols (the static stdlib's default
// -export-dynamic puts every klife symbol in the dynamic table: ~2.4 MB resident at startup); lld-relr also packs
// relative relocations (DT_RELR, 1.1 MB of relocations become 0.25 MB; the binary then needs glibc >= 2.36).
// KLIFE_BENCH_SYMBOL_ORDER=FILE (with either) lays functions out in that order (Benchmarks/symbol-order: the code a
// run touches first, so it shares pages; needs the objects compiled with -function-sections, which bench.sh passes).
// Unset for every other build (tests, `swift build`, applications): the toolchain's defaults.
let benchmarkSymbolOrder: [String] =
    Context.environment["KLIFE_BENCH_SYMBOL_ORDER"].map {
        ["-Xlinker", "--symbol-ordering-file=\($0)", "-Xlinker", "--no-warn-symbol-ordering"]
    } ?? []
let benchmarkLinkerSettings: [LinkerSetting] =
    switch Context.environment["KLIFE_BENCH_LINK"] {
    case "lld": [.unsafeFlags(["-use-ld=lld", "-Xlinker", "--no-export-dynamic"] + benchmarkSymbolOrder)]
    case "lld-relr":
        [
            .unsafeFlags(
                ["-use-ld=lld", "-Xlinker", "--no-export-dynamic", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"]
                    + benchmarkSymbolOrder
            )
        ]
    default: []
    }

let package = Package(
    name: "klife",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Klife", targets: ["Klife"]),
        .library(name: "KafkaProtocol", targets: ["KafkaProtocol"]),
        .executable(name: "klife", targets: ["klife"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // Command-line arguments; environment variables need no trait. Not the JSON trait: its JSONSnapshot loads
        // full Foundation + ICU (~6 MB resident); Klife reads JSON files with its own KafkaJSONSnapshot. No YAML.
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: ["CommandLineArguments"]),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // MARK: C shims
        .target(name: "CKlifeCRC32C"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),

        // MARK: Pure protocol layer (no I/O, no logging)
        .target(
            name: "KafkaProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                "CKlifeCRC32C", "CZlib", "CZstd", "CLZ4", "CSnappy",
            ]
        ),
        .executableTarget(name: "KafkaProtocolGenerator"),
        .executableTarget(
            name: "KlifeCodecBenchmark",
            dependencies: ["KafkaProtocol"],
            path: "Benchmarks/CodecBenchmark"
        ),

        // MARK: Client
        .target(
            name: "Klife",
            dependencies: [
                "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .executableTarget(
            name: "klife",
            dependencies: [
                "Klife",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            linkerSettings: benchmarkLinkerSettings
        ),

        // MARK: Tests
        // Test helpers shared by the unit and integration test targets (not a product).
        .target(
            name: "KlifeTestSupport",
            dependencies: [
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            path: "Tests/KlifeTestSupport"
        ),
        .testTarget(
            name: "KafkaProtocolTests",
            dependencies: ["KafkaProtocol", .product(name: "NIOCore", package: "swift-nio")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "KlifeTests",
            dependencies: [
                "Klife",
                "KlifeTestSupport",
                "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .testTarget(
            name: "KlifeDocSnippetTests",
            dependencies: [
                "Klife",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .testTarget(
            name: "KlifeCLITests",
            dependencies: ["klife"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Klife",
                "KlifeTestSupport",
                "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
