/// A set of options read from one TOML table: a plugin type's section, a nested table
/// (`[NAME.buffering]`), or the global section. The struct's initial values are the
/// defaults; ``options`` declares each key once, with its doc, and where it is stored.
/// Parsing, unknown-key errors, `luapiped check` and the generated reference all come
/// from these declarations (fluent-bit's `config_map`, vector's configurable components).
public protocol OptionGroup: Sendable {
    init()
    static var options: [OptionSpec<Self>] { get }
    /// Checks that span several keys; each problem names its key.
    func validate() -> [(key: String, reason: String)]
}

extension OptionGroup {
    public func validate() -> [(key: String, reason: String)] { [] }
}

/// One declared key of an ``OptionGroup``: key, type, default (the group's initial value),
/// whether it is required, its allowed values and a one-line doc.
public struct OptionSpec<Root>: @unchecked Sendable {  // immutable; its closures capture key paths, which are values
    public let key: String
    public let doc: String
    public let required: Bool
    let typeDoc: String
    let allowed: [String]?
    /// Stores the node's value; a failure is the reason.
    let apply: (inout Root, ConfigNode, OptionLocation) -> [ConfigError]
    /// The default as a TOML literal (nil: none).
    let defaultLiteral: (Root) -> String?
    /// A nested table's own keys, for the reference.
    let nested: [OptionDoc]?

    /// A key stored at `path`.
    public init<V: OptionValue>(_ key: String, _ path: WritableKeyPath<Root, V>, required: Bool = false, allowed: [String]? = nil, _ doc: String) {
        self.key = key
        self.doc = doc
        self.required = required
        self.typeDoc = V.typeDoc
        self.allowed = allowed
        self.nested = nil
        self.apply = { root, node, at in
            switch V.read(node) {
            case .failure(let p): return [at.error(key, p.reason)]
            case .success(let v):
                if let allowed, let s = v as? String, !allowed.contains(s) {
                    return [at.error(key, "must be \(Self.list(allowed)), not \"\(s)\"")]
                }
                root[keyPath: path] = v
                return []
            }
        }
        self.defaultLiteral = { $0[keyPath: path].literal }
    }

    /// A nested table with its own declared keys (`[NAME.buffering]`).
    public init<G: OptionGroup>(table key: String, _ path: WritableKeyPath<Root, G>, _ doc: String) {
        self.key = key
        self.doc = doc
        self.required = false
        self.typeDoc = "table"
        self.allowed = nil
        self.nested = G.options.map { $0.reference(G()) }
        self.apply = { root, node, at in
            guard case .table(let kv) = node else { return [at.error(key, OptionProblem.expected("a table", node).reason)] }
            let (g, errors) = G.resolve(kv, at: at.nested(key))
            root[keyPath: path] = g
            return errors
        }
        self.defaultLiteral = { _ in nil }
    }

    private init(key: String, doc: String, required: Bool, typeDoc: String, allowed: [String]?, nested: [OptionDoc]?,
                 apply: @escaping (inout Root, ConfigNode, OptionLocation) -> [ConfigError], defaultLiteral: @escaping (Root) -> String?) {
        self.key = key
        self.doc = doc
        self.required = required
        self.typeDoc = typeDoc
        self.allowed = allowed
        self.nested = nested
        self.apply = apply
        self.defaultLiteral = defaultLiteral
    }

    /// This group's keys as keys of an enclosing group that stores it at `path` (shared
    /// sets: the sandbox's, a reader's, an input's).
    public static func flatten<G: OptionGroup>(_ path: WritableKeyPath<Root, G>) -> [OptionSpec<Root>] {
        G.options.map { inner in
            OptionSpec(key: inner.key, doc: inner.doc, required: inner.required, typeDoc: inner.typeDoc, allowed: inner.allowed,
                       nested: inner.nested,
                       apply: { root, node, at in inner.apply(&root[keyPath: path], node, at) },
                       defaultLiteral: { inner.defaultLiteral($0[keyPath: path]) })
        }
    }

    /// How the key reads in the generated reference.
    func reference(_ defaults: Root) -> OptionDoc {
        let requirement = required ? "required" : defaultLiteral(defaults).map { "default `\($0)`" } ?? "optional"
        let values = allowed.map { "; one of " + $0.map { "`\($0)`" }.joined(separator: ", ") } ?? ""
        return OptionDoc(key: key, type: typeDoc, requirement: requirement, doc: doc + values, nested: nested ?? [])
    }

    static func list(_ values: [String]) -> String {
        values.count == 1 ? values[0] : values.dropLast().joined(separator: ", ") + " or " + values.last!
    }
}

/// A key as the reference shows it.
public struct OptionDoc: Sendable {
    public let key: String
    public let type: String
    public let requirement: String
    public let doc: String
    public let nested: [OptionDoc]
}

/// Where a table was read: errors name the file, section and the key's line.
public struct OptionLocation: Sendable {
    public var file: String
    public var section: String
    /// Prefix of nested keys (`buffering.`).
    var keyPrefix = ""
    var sectionLine: Int?
    /// The line of a key path inside the section.
    var line: @Sendable ([String]) -> Int?

    public init(file: String, section: String, sectionLine: Int? = nil, line: @escaping @Sendable ([String]) -> Int? = { _ in nil }) {
        self.file = file
        self.section = section
        self.sectionLine = sectionLine
        self.line = line
    }

    func error(_ key: String, _ reason: String) -> ConfigError {
        let path = keyPrefix + key
        return ConfigError(file: file, section: section, key: path, line: line(path.split(separator: ".").map(String.init)) ?? sectionLine, reason)
    }

    func nested(_ key: String) -> OptionLocation {
        var n = self
        n.keyPrefix += key + "."
        return n
    }
}

extension OptionGroup {
    /// Reads `table`: unknown keys, wrong types and missing required keys are errors (all
    /// of them, not just the first); keys in `ignoring` are left to the caller.
    static func resolve(_ table: [(key: String, value: ConfigNode)], at: OptionLocation, ignoring: Set<String> = []) -> (Self, [ConfigError]) {
        var value = Self()
        var errors: [ConfigError] = []
        let specs = options
        var given: Set<String> = []
        for (key, node) in table where !ignoring.contains(key) {
            guard let spec = specs.first(where: { $0.key == key }) else {
                errors.append(at.error(key, "unknown key (known: \(specs.map(\.key).sorted().joined(separator: ", ")))"))
                continue
            }
            given.insert(key)
            errors += spec.apply(&value, node, at)
        }
        for spec in specs where spec.required && !given.contains(spec.key) {
            errors.append(at.error(spec.key, "missing (\(spec.doc))"))
        }
        if errors.isEmpty {
            errors += value.validate().map { at.error($0.key, $0.reason) }
        }
        return (value, errors)
    }

    /// The reference of every key.
    static var reference: [OptionDoc] { options.map { $0.reference(Self()) } }
}

extension Array {
    /// A shared group's keys as keys of the enclosing group (`.flatten(\.sandbox)`).
    static func flatten<Root, G: OptionGroup>(_ path: WritableKeyPath<Root, G>) -> [OptionSpec<Root>] where Element == OptionSpec<Root> {
        OptionSpec<Root>.flatten(path)
    }
}
