/// An input the pipeline runs on its own thread.
protocol PipelineInput: AnyObject, Sendable {
    var name: String { get }
    /// Reads until its input ends or ``stop()`` is called.
    func run()
    func stop()
}

extension StdinInput: PipelineInput {
    var name: String { records.inputName }
}
