/// docs/configuration.md's reference part, generated from the declared options: the docs
/// cannot drift from what the parser accepts (a test compares them).
public enum ConfigReference {
    static func render(_ options: [ConfigOption], indent: String = "") -> [String] {
        var out: [String] = []
        for o in options {
            let kind: String = switch o.kind {
            case .string: "string"
            case .integer: "integer"
            case .double: "number"
            case .bool: "boolean"
            case .stringArray: "array of strings"
            case .duration: "duration (seconds, or \"250ms\", \"5s\", \"1m\")"
            case .table: "table"
            case .options: "table"
            }
            let def: String
            if o.required {
                def = "required"
            } else if let d = o.defaultValue {
                def = "default `\(literal(d))`"
            } else {
                def = "optional"
            }
            out.append("\(indent)- `\(o.key)` (\(kind), \(def)): \(o.doc)")
            if case .options(let nested) = o.kind { out += render(nested, indent: indent + "  ") }
        }
        return out
    }

    static func literal(_ n: ConfigNode) -> String {
        switch n {
        case .string(let s): "\"\(s.replacingOccurrences(of: "\n", with: "\\n"))\""
        case .integer(let i): "\(i)"
        case .double(let d): d.rounded() == d && abs(d) < 1e15 ? "\(Int64(d))" : "\(d)"
        case .bool(let b): "\(b)"
        default: "…"
        }
    }

    /// The generated Markdown.
    public static func markdown() -> String {
        var lines = ["## Global section: `[luapiped]` (or `[hekad]`)", ""]
        lines += render(PluginCatalog.global)
        for category in [PluginCategory.input, .splitter, .decoder, .filter, .encoder, .output] {
            let types = PluginCatalog.types.values.filter { $0.category == category }.sorted { $0.name < $1.name }
            lines += ["", "## \(category.rawValue.prefix(1).uppercased() + category.rawValue.dropFirst())s"]
            for t in types {
                lines += ["", "### \(t.name)", "", t.doc.prefix(1).uppercased() + t.doc.dropFirst() + ".", ""]
                lines += t.options.isEmpty ? ["No options."] : render(t.options)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
