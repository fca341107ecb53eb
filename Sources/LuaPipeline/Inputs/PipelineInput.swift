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
}

extension PipelineInput {
    var keepsCheckpoint: Bool { false }
    func saveCheckpoint() {}
}

extension StdinInput: PipelineInput {
    var name: String { records.inputName }
}
