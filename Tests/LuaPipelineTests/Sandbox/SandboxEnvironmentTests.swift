import Foundation
import Testing
@testable import LuaPipeline

/// The restricted environment: what exists, what is refused, and require.
@Suite struct SandboxEnvironmentTests {
    private func check(_ code: String, modulePaths: [String] = []) throws {
        let h = try ScriptHarness(code + "\nfunction process_message() return 0 end", modulePaths: modulePaths)
        #expect(!h.sandbox.isTerminated)
    }

    @Test func forbiddenFunctionsAreAbsent() throws {
        try check("""
            assert(io == nil and debug == nil and package == nil)
            assert(dofile == nil and loadfile == nil and string.dump == nil)
            assert(os.execute == nil and os.exit == nil and os.getenv == nil and os.remove == nil)
            assert(os.time and os.date and os.clock)
            """)
    }

    @Test func binaryChunksAreRefused() throws {
        #expect(throws: SandboxError(.load, "test.lua:1: attempt to load a binary chunk (mode is 't')")) {
            try ScriptHarness("assert(load('\\27Lua', 'b', 'b')) function process_message() return 0 end")
        }
        try check("assert(load('return 1 + 1')() == 2)")
    }

    @Test func collectgarbageOptionsThatDefeatLimits() throws {
        try check("""
            assert(collectgarbage('count') > 0)
            collectgarbage()
            local ok, e = pcall(collectgarbage, 'stop')
            assert(not ok and e:find("collectgarbage%(%) option 'stop' is not allowed"), e)
            assert(not pcall(collectgarbage, 'generational'))
            """)
    }

    @Test func timeIsUTCWhateverTheHostZone() throws {
        setenv("TZ", "America/New_York", 1)
        tzset()
        defer { unsetenv("TZ"); tzset() }
        try check("""
            assert(os.date('%H:%M', 0) == '00:00', os.date('%H:%M', 0))
            assert(os.date('*t', 86400).day == 2)
            assert(os.time({year = 1970, month = 1, day = 2, hour = 0}) == 86400)
            assert(os.time({year = 2026, month = 11, day = 24, hour = 10}) == 1795514400)
            """)
    }

    @Test func lua51Shims() throws {
        try check("assert(unpack == table.unpack) local a, b = unpack({1, 2}) assert(b == 2)")
    }

    @Test func preloadedModulesSetTheirGlobals() throws {
        try check("""
            assert(lpeg == nil and cjson == nil)
            local l = require 'lpeg'
            assert(lpeg == l and l.match(l.C(l.R('az')^1), 'abc1') == 'abc')
            require 'cjson'
            assert(cjson.decode('{"a":[1,2]}').a[2] == 2)
            local re = require 're'
            assert(re.match('hello', '{%a+}') == 'hello')
            assert(require('string') == string and require('os') == os and require('math') == math)
            assert(require('lpeg') == l)
            """)
    }

    @Test func requireFindsModulesInOrderAndNothingElse() throws {
        let first = temporaryDirectory(), second = temporaryDirectory()
        try "return {name = 'first'}".write(to: first.appendingPathComponent("m.lua"), atomically: true, encoding: .utf8)
        try "return {name = 'second'}".write(to: second.appendingPathComponent("m.lua"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: second.appendingPathComponent("pkg"), withIntermediateDirectories: true)
        try "return {deep = true}".write(to: second.appendingPathComponent("pkg/sub.lua"), atomically: true, encoding: .utf8)
        try check("""
            assert(require('m').name == 'first')
            assert(require('pkg.sub').deep)
            local ok, e = pcall(require, 'missing')
            assert(not ok and e:find("module 'missing' not found"), e)
            ok, e = pcall(require, '../escape')
            assert(not ok and e:find('not a valid module name'), e)
            assert(not pcall(require, 'io') and not pcall(require, 'debug'))
            """, modulePaths: [first.path, second.path])
    }

    @Test func bundledModulesLoad() throws {
        try check("local clf = require 'common_log_format' assert(type(clf.build_nginx_grammar) == 'function')",
                  modulePaths: [repositoryRoot.appendingPathComponent("lua/modules").path])
    }
}

#if canImport(Glibc)
import Glibc
#endif
