// swift-tools-version:6.1
// An application using LuapipedClient: logs, metrics and events to the local luapiped.
// Built by scripts/test and run by Tests/LuaPipelineTests/Client/ExampleTests.swift.
import Foundation
import PackageDescription

// The parent package's identity is its directory's name (a clone may be named anything).
let parent = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "Examples",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        .executableTarget(
            name: "client-demo",
            dependencies: [
                .product(name: "LuapipedClient", package: parent),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
    ]
)
