/// Field access on the encoded bytes, without building a ``Message``.
extension MessageView {
    /// A field's parts, located in the view's bytes.
    public struct FieldRef: Sendable {
        public var name: Range<Int>
        public var valueType: Int
        public var representation: Range<Int>?
        /// The whole `Field` submessage.
        public var range: Range<Int>
    }

    /// A single value read from a field.
    public enum Value: Sendable, Equatable {
        case bytes(Range<Int>)
        case integer(Int64)
        case double(Double)
        case bool(Bool)
    }

    /// Parses the field at position `index` (0-based, in message order).
    public func fieldRef(at index: Int) -> FieldRef {
        let r = rangeOfField(index)
        var reader = WireReader(bytes, from: r.lowerBound, to: r.upperBound)
        var ref = FieldRef(name: r.lowerBound..<r.lowerBound, valueType: 0, representation: nil, range: r)
        // The structure was validated in init, so these reads cannot fail.
        while !reader.atEnd {
            let (f, wire) = try! reader.readTag()
            switch (f, wire) {
            case (1, 2): ref.name = try! reader.readLengthDelimited()
            case (2, 0): ref.valueType = Int(try! reader.readVarint())
            case (3, 2): ref.representation = try! reader.readLengthDelimited()
            default: try! reader.skip(wire: wire)
            }
        }
        return ref
    }

    /// Index (into ``fieldRanges``) of the `occurrence`-th field (0-based) called `name`.
    public func fieldIndex(named name: UnsafeRawBufferPointer, occurrence: Int = 0) -> Int? {
        var seen = 0
        for i in 0..<fieldCount {
            let n = nameRange(ofField: i)
            if n.count == name.count && memcmpEqual(n.lowerBound, name) {
                if seen == occurrence { return i }
                seen += 1
            }
        }
        return nil
    }

    /// Convenience for Swift callers.
    public func fieldIndex(named name: String, occurrence: Int = 0) -> Int? {
        var n = name
        return n.withUTF8 { fieldIndex(named: UnsafeRawBufferPointer($0), occurrence: occurrence) }
    }

    private func memcmpEqual(_ at: Int, _ other: UnsafeRawBufferPointer) -> Bool {
        if other.isEmpty { return true }
        return memcmp(bytes.baseAddress! + at, other.baseAddress!, other.count) == 0
    }

    /// The `arrayIndex`-th value of the field at `index`, or `nil` when there is none.
    public func value(ofField index: Int, arrayIndex: Int = 0) -> Value? {
        let ref = fieldRef(at: index)
        var reader = WireReader(bytes, from: ref.range.lowerBound, to: ref.range.upperBound)
        var seen = 0
        while !reader.atEnd {
            let (f, wire) = try! reader.readTag()
            switch (f, wire) {
            case (4, 2) where ref.valueType == 0, (5, 2) where ref.valueType == 1:
                let r = try! reader.readLengthDelimited()
                if seen == arrayIndex { return .bytes(r) }
                seen += 1
            case (6, 0) where ref.valueType == 2:
                let v = Int64(bitPattern: try! reader.readVarint())
                if seen == arrayIndex { return .integer(v) }
                seen += 1
            case (8, 0) where ref.valueType == 4:
                let v = try! reader.readVarint() != 0
                if seen == arrayIndex { return .bool(v) }
                seen += 1
            case (7, 1) where ref.valueType == 3:
                let v = Double(bitPattern: try! reader.readFixed64())
                if seen == arrayIndex { return .double(v) }
                seen += 1
            case (6, 2) where ref.valueType == 2, (8, 2) where ref.valueType == 4:
                let r = try! reader.readLengthDelimited()
                var sub = WireReader(bytes, from: r.lowerBound, to: r.upperBound)
                while !sub.atEnd {
                    let raw = try! sub.readVarint()
                    if seen == arrayIndex { return f == 6 ? .integer(Int64(bitPattern: raw)) : .bool(raw != 0) }
                    seen += 1
                }
            case (7, 2) where ref.valueType == 3:
                let r = try! reader.readLengthDelimited()
                let n = r.count / 8
                if arrayIndex - seen < n {
                    var sub = WireReader(bytes, from: r.lowerBound + (arrayIndex - seen) * 8, to: r.upperBound)
                    return .double(Double(bitPattern: try! sub.readFixed64()))
                }
                seen += n
            default:
                try! reader.skip(wire: wire)
            }
        }
        return nil
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
