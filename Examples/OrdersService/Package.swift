// swift-tools-version: 6.1
import PackageDescription

// `.package(path: "../..")` takes its identity from the checkout's folder name, so derive it.
let rootPackage = Context.packageDirectory.split(separator: "/").dropLast(2).last.map(String.init) ?? "klife"

let package = Package(
    name: "OrdersService",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
    ],
    targets: [
        .executableTarget(
            name: "OrdersService",
            dependencies: [
                .product(name: "Klife", package: rootPackage),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
