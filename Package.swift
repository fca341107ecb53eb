// swift-tools-version:6.1
import PackageDescription

// Release code is laid out for a small resident footprint: every function in a section
// of its own, and the linker places the functions that start-up, an idle daemon and the
// log pipeline run first and together (Sources/luapiped/link-order.txt, written by
// scripts/link-order). The kernel maps executable pages in 64 KiB blocks around each
// fault, so scattered code costs resident memory (docs/performance.md).
let functionSections = SwiftSetting.unsafeFlags(["-Xfrontend", "-function-sections"], .when(configuration: .release))
let linkOrder = "\(Context.packageDirectory)/Sources/luapiped/link-order.txt"
// The release link takes GCC's static libstdc++ (what Swift's runtime uses of it) instead
// of the shared library: Sources/luapiped/static-cxx holds a linker script by that name.
// And it exports no symbols: the static Swift runtime asks for -export-dynamic, which
// puts every symbol in the dynamic table the loader reads at start; nothing loaded later
// (Lua's C modules, libcurl, libnats, libmicrohttpd) links against the executable.
let staticCxx = "\(Context.packageDirectory)/Sources/luapiped/static-cxx"

let package = Package(
    name: "luapiped",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "LuaPipeline", targets: ["LuaPipeline"]),
        .executable(name: "luapiped", targets: ["luapiped"]),
        // How applications talk to the local luapiped: logs (swift-log), metrics
        // (swift-metrics, StatsD) and acknowledged events, without Lua (docs/client.md).
        .library(name: "LuapipedClient", targets: ["LuapipedClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        // Heka's wire format (protobuf field numbers, stream framing) and the memory of
        // messages in flight (heka_block.c), without Lua, so the sandbox's C,
        // LuapipedCore and the client share them.
        .target(name: "CHekaWire"),
        // Heka's message without Lua or PCRE2: the message model, the protobuf codec, the
        // zero-copy MessageView and the stream framing. The daemon (LuaPipeline) and the
        // client library (LuapipedClient) both build their messages with it.
        .target(
            name: "LuapipedCore",
            dependencies: ["CHekaWire"],
            swiftSettings: [
                .enableUpcomingFeature("MemberImportVisibility"),
                .unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release)),
                functionSections,
            ]
        ),
        // C only: Debian's liblua5.4 (C build, errors are longjmp) plus the shim that keeps
        // every Lua error on the C side, the PCRE2 wrapper used by the matcher, and the
        // libcurl shim of HttpOutput (libcurl opened on first use: no cost until then).
        // Lua and its two native modules (lpeg, cjson) are Debian's static libraries, linked
        // in: the shim's calls into Lua are direct instead of through the shared library's
        // PLT, which made the sandboxed decoder about 5% faster (docs/performance.md), and
        // the modules need nothing exported from the executable.
        .target(
            name: "CLua",
            dependencies: ["CHekaWire"],
            cSettings: [
                .define("PCRE2_CODE_UNIT_WIDTH", to: "8"), .unsafeFlags(["-O2"]),
                .unsafeFlags(["-ffunction-sections"], .when(configuration: .release)),
            ],
            linkerSettings: [
                .linkedLibrary(":liblua5.4-lpeg.a"), .linkedLibrary(":liblua5.4-cjson.a"), .linkedLibrary(":liblua5.4.a"),
                .linkedLibrary("pcre2-8"), .linkedLibrary("dl"), .linkedLibrary("m"),
            ]
        ),
        .target(
            name: "LuaPipeline",
            dependencies: ["CHekaWire", "LuapipedCore", "CLua", .product(name: "TOMLKit", package: "TOMLKit")],
            // Only what a file imports is visible: full Foundation (which TOMLKit imports)
            // must not leak in, its start-up costs ~6 MiB of RSS (docs/performance.md).
            swiftSettings: [
                .enableUpcomingFeature("MemberImportVisibility"),
                // Exclusivity is checked at run time in debug builds (every test run);
                // the release build's hot loops skip the check.
                .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
                functionSections,
            ]
        ),
        .executableTarget(
            name: "luapiped",
            dependencies: [
                "LuaPipeline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["link-order.txt", "static-cxx"],
            swiftSettings: [.enableUpcomingFeature("MemberImportVisibility"), functionSections],
            // A position-dependent release binary: the loader has no relative relocations to
            // apply at start (1.8 MiB less RSS, measured with the static Swift runtime that
            // scripts/run and scripts/bench build with --static-swift-stdlib).
            linkerSettings: [
                .unsafeFlags(["-Xclang-linker", "-no-pie", "-Xlinker", "--section-ordering-file=\(linkOrder)", "-L\(staticCxx)",
                               "-Xlinker", "--no-export-dynamic"],
                             .when(platforms: [.linux], configuration: .release)),
            ]
        ),
        .target(
            name: "LuapipedClient",
            dependencies: [
                "LuapipedCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")]
        ),
        .testTarget(
            name: "LuaPipelineTests",
            dependencies: ["LuaPipeline", "LuapipedCore", "LuapipedClient", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")],
            resources: [.copy("Fixtures")]
        ),
    ]
)
