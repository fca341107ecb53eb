/// UTF-8 validation without building a String: ASCII, by far the common case in logs,
/// is checked 32 bytes at a time (four words tested at once), the rest as four words that
/// may overlap, without a loop whose length depends on the line's.
public enum UTF8Check {
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let n = bytes.count
        let high: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func word(_ at: Int) -> UInt64 { base.loadUnaligned(fromByteOffset: at, as: UInt64.self) }
        var i = 0
        while i + 32 <= n {
            if (word(i) | word(i + 8) | word(i + 16) | word(i + 24)) & high != 0 { break }
            i += 32
        }
        if i + 32 > n {  // the rest, under 32 bytes
            if n >= 8 {
                // Four words that end at n at the latest, the last overlapping what was
                // checked: no loop, so no branch on how long the line is.
                let last = n - 8
                if (word(min(i, last)) | word(min(i + 8, last)) | word(min(i + 16, last)) | word(last)) & high == 0 { return true }
            } else {
                while i < n && base.load(fromByteOffset: i, as: UInt8.self) < 0x80 { i += 1 }
                if i == n { return true }
            }
        }
        // Everything before i is ASCII: a sequence starts there.
        return String(validating: UnsafeRawBufferPointer(rebasing: bytes[i...]), as: UTF8.self) != nil
    }
}
