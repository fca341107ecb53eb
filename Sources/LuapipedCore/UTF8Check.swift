/// UTF-8 validation without building a String: ASCII, by far the common case in logs,
/// is checked 32 bytes at a time (four words tested at once), then eight at a time.
public enum UTF8Check {
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let n = bytes.count
        let high: UInt64 = 0x8080_8080_8080_8080
        var i = 0
        while i + 32 <= n {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                | base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
                | base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)
                | base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)
            if w & high != 0 { break }
            i += 32
        }
        while i + 8 <= n {
            if base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & high != 0 { break }
            i += 8
        }
        while i < n && base.load(fromByteOffset: i, as: UInt8.self) < 0x80 { i += 1 }
        if i == n { return true }
        return String(validating: UnsafeRawBufferPointer(rebasing: bytes[i...]), as: UTF8.self) != nil
    }
}
