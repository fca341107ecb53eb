import Foundation
@testable import LuaPipeline

/// The golden files written by `scripts/make-golden.py` with the real protobuf library.
enum Golden {
    static let directory: URL = {
        guard let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("test bundle has no Fixtures")
        }
        return fixtures.appendingPathComponent("golden")
    }()

    /// Case names in stream order (cases.txt).
    static let names: [String] = {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("cases.txt"), encoding: .utf8) else {
            return []
        }
        return text.split(separator: "\n").map(String.init)
    }()

    static func file(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    /// NAME.pb: the serialized message.
    static func protobuf(_ name: String) throws -> [UInt8] { try file(name + ".pb") }

    /// NAME.json without its final newline.
    static func json(_ name: String) throws -> [UInt8] {
        var b = try file(name + ".json")
        if b.last == 0x0A { b.removeLast() }
        return b
    }
}

/// SplitMix64: a tiny deterministic PRNG, so "random" tests replay exactly.
struct GoldenRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension MessageView {
    /// The bytes of a range of the view, for comparisons.
    func slice(_ r: Range<Int>) -> [UInt8] { Array(bytes[r]) }
}
