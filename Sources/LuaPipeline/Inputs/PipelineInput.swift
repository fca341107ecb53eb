/// An input the pipeline runs on its own thread.
protocol PipelineInput: AnyObject, Sendable {
    var name: String { get }
    /// Reads until its input ends or ``stop()`` is called.
    func run()
    func stop()
    /// Whether it keeps a checkpoint of what it read (Logstreamer's journals): written by
    /// ``saveCheckpoint()`` once everything it read is acknowledged.
    var keepsCheckpoint: Bool { get }
    /// Writes the checkpoint after ``run()`` ended and the router drained.
    func saveCheckpoint()
    /// Where its streams stood at the cut of `generation`, once every stream noted it
    /// (nil: not yet). Keyed by stream.
    func positions(at generation: UInt64) -> [String: LogstreamJournal]?
    /// Where its streams stand after ``run()`` ended (a clean stop's final checkpoint).
    func finalPositions() -> [String: LogstreamJournal]
    /// The address it listens on (nil: none). A new version on the same address binds
    /// once this one stopped.
    var listenAddress: String? { get }
    /// Binds what it listens on, before ``run()`` (a port taken is a start-up error).
    func open() throws(Socket.Failure)
}

extension PipelineInput {
    var keepsCheckpoint: Bool { false }
    func saveCheckpoint() {}
    func positions(at generation: UInt64) -> [String: LogstreamJournal]? { [:] }
    func finalPositions() -> [String: LogstreamJournal] { [:] }
    var listenAddress: String? { nil }
    func open() throws(Socket.Failure) {}
}

extension StdinInput: PipelineInput {
    var name: String { records.inputName }
}
