import LuapipedCore
import Testing

@Suite struct UTF8CheckTests {
    /// One bad or good multi-byte sequence at every offset of a line long enough to cross
    /// the 32- and 8-byte strides and their tails: the answer is String's, wherever it is.
    @Test func aSequenceIsJudgedTheSameAtEveryOffset() {
        let samples: [[UInt8]] = [[0xFF], [0xC3, 0xA9], [0xC3], [0xE2, 0x82, 0xAC], [0xED, 0xA0, 0x80], [0xF0, 0x9F, 0x98, 0x80], [0x80]]
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 24, 25, 31, 32, 33, 39, 40, 47, 48, 56, 63, 64, 70, 200] {
            let ascii = [UInt8](repeating: UInt8(ascii: "a"), count: n)
            #expect(ascii.withUnsafeBytes { UTF8Check.isValid($0) })
            for s in samples {
                for at in 0...n {
                    let line = Array(ascii[..<at]) + s + Array(ascii[at...])
                    let expected = String(validating: line, as: UTF8.self) != nil
                    #expect(line.withUnsafeBytes { UTF8Check.isValid($0) } == expected, "\(s) at \(at) of \(n)")
                }
            }
        }
    }
}
