/// docs/configuration.md's reference part, generated from the declared options: the docs
/// cannot drift from what the parser accepts (a test compares them).
public enum ConfigReference {
    static func render(_ options: [OptionDoc], indent: String = "") -> [String] {
        options.flatMap { o in
            ["\(indent)- `\(o.key)` (\(o.type), \(o.requirement)): \(o.doc)"] + render(o.nested, indent: indent + "  ")
        }
    }

    /// The generated Markdown.
    public static func markdown() -> String {
        var lines = ["## Global section: `[luapiped]` (or `[hekad]`)", ""]
        lines += render(GlobalOptions.reference)
        for category in PluginCategory.allCases {
            let types = PluginCatalog.all.filter { $0.category == category }.sorted { $0.name < $1.name }
            lines += ["", "## \(category.rawValue.prefix(1).uppercased() + category.rawValue.dropFirst())s"]
            for t in types {
                lines += ["", "### \(t.name)", "", t.doc.prefix(1).uppercased() + t.doc.dropFirst() + ".", ""]
                lines += t.reference.isEmpty ? ["No options."] : render(t.reference)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
