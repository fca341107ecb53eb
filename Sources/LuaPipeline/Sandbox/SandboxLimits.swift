/// The limits of one sandbox (Heka's `memory_limit`, `instruction_limit`,
/// `output_limit`, and `max_process_duration`).
public struct SandboxLimits: Sendable, Equatable {
    /// Bytes of Lua memory; 0 = unlimited. Default 8 MiB.
    public var memory: Int
    /// Lua instructions per `process_message`/`timer_event` call; 0 = unlimited. From
    /// 1,000,000 up (and 0), with the default step, a call is counted only once a
    /// processor-time tick finds it running long, and one call in 64 whole
    /// (docs/sandbox.md, "Deferred counting").
    public var instructions: UInt64
    /// Bytes per injected payload or message. Default 64 KiB.
    public var output: Int
    /// Wall-clock seconds per call; 0 = none. Default 5.
    public var maxProcessDuration: Double
    /// Granularity of instruction counting (the count hook fires every `instructionStep`
    /// instructions; 0 = 1000). 1 gives exact counts at about twice the cost. Any step
    /// but 0 counts every call from its first instruction.
    public var instructionStep: UInt32

    public static let defaultMemory = 8 * 1024 * 1024
    public static let defaultInstructions: UInt64 = 1_000_000
    public static let defaultOutput = 64 * 1024
    public static let defaultMaxProcessDuration = 5.0

    public init(
        memory: Int = SandboxLimits.defaultMemory, instructions: UInt64 = SandboxLimits.defaultInstructions,
        output: Int = SandboxLimits.defaultOutput, maxProcessDuration: Double = SandboxLimits.defaultMaxProcessDuration,
        instructionStep: UInt32 = 0
    ) {
        self.memory = memory
        self.instructions = instructions
        self.output = output
        self.maxProcessDuration = maxProcessDuration
        self.instructionStep = instructionStep
    }
}

/// What a sandbox used so far.
public struct SandboxUsage: Sendable, Equatable {
    public var memoryCurrent: Int
    public var memoryPeak: Int
    /// Instructions of the last call, in steps of the counting granularity; 0 for a call
    /// deferred counting did not count.
    public var instructionsLast: UInt64
    public var instructionsPeak: UInt64
    public var outputPeak: Int
}

/// Heka's plugin kinds that run Lua.
public enum PluginKind: String, Sendable, CaseIterable {
    case decoder, filter, encoder
}
