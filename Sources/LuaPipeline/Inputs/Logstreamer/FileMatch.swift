import CLua
import Glibc

/// `file_match` with Heka's logstream grouping: the named groups of the regex give each
/// file a stream (`differentiator`: group names and literal text, joined) and a place in
/// the stream's sequence (`priority`: group names compared numerically when both values
/// are numbers, else as text; `^` before a name reverses the order; a missing value counts
/// as 0). Files of one stream are read in ascending priority: the newest last.
final class FileMatch: @unchecked Sendable {  // immutable after init; only read while scanning
    private let regex: CompiledRegex
    let differentiator: [String]
    let priority: [(name: String, reverse: Bool)]
    private let groups: Set<String>

    init(regex: CompiledRegex, differentiator: [String], priority: [String]) {
        self.regex = regex
        self.differentiator = differentiator
        self.priority = priority.map { $0.hasPrefix("^") ? (String($0.dropFirst()), true) : ($0, false) }
        var names = Set(self.priority.map(\.name))
        // A differentiator entry is a group name when the pattern names such a group.
        let pattern = regex.pattern
        for d in differentiator where pattern.contains("(?P<\(d)>") || pattern.contains("(?<\(d)>") { names.insert(d) }
        groups = names
    }

    /// The named groups' values for `path`, or nil when it does not match.
    func match(_ path: String) -> [String: String]? {
        let bytes = Array(path.utf8)
        var values: [String: String] = [:]
        var matched = false
        for g in groups.isEmpty ? [""] : Array(groups) {
            var s = 0, e = 0
            let rc = bytes.withUnsafeBytes { raw in
                g.isEmpty ? clp_regex_match(regex.re, raw.baseAddress, raw.count) : clp_regex_named_group(regex.re, raw.baseAddress, raw.count, g, &s, &e)
            }
            if rc == 0 || rc < 0 { return nil }
            matched = true
            if rc == 1 && !g.isEmpty { values[g] = String(decoding: bytes[s..<e], as: UTF8.self) }
        }
        return matched ? values : nil
    }

    /// The stream a file belongs to: the differentiator, or the path itself.
    func streamName(path: String, values: [String: String]) -> String {
        guard !differentiator.isEmpty else { return path }
        return differentiator.map { groups.contains($0) ? (values[$0] ?? "") : $0 }.joined()
    }

    /// Whether `a` comes before `b` in a stream's reading order.
    func precedes(_ a: [String: String], _ b: [String: String]) -> Bool {
        for (name, reverse) in priority {
            let x = a[name] ?? "", y = b[name] ?? ""
            if x == y { continue }
            let less: Bool
            if let xi = Int64(x.isEmpty ? "0" : x), let yi = Int64(y.isEmpty ? "0" : y) {
                if xi == yi { continue }
                less = xi < yi
            } else {
                less = x < y
            }
            return reverse ? !less : less
        }
        return false
    }
}

extension FileMatch {
    /// Every path under `root`, relative to it, as `find -xdev` lists them: folders it
    /// cannot read are passed over (a root-only folder under /var/log does not hide the
    /// rest), symbolic links are listed but not followed, other filesystems are not entered.
    static func walk(_ root: String) -> [String] {
        var out: [String] = []
        var st = stat()
        guard stat(root, &st) == 0 else { return out }
        let device = st.st_dev
        func visit(_ relative: String) {
            guard let dir = opendir(relative.isEmpty ? root : Path.join(root, relative)) else { return }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                let rel = relative.isEmpty ? name : relative + "/" + name
                out.append(rel)
                var s = stat()
                if lstat(Path.join(root, rel), &s) == 0, (s.st_mode & S_IFMT) == S_IFDIR, s.st_dev == device { visit(rel) }
            }
        }
        visit("")
        return out
    }
}
