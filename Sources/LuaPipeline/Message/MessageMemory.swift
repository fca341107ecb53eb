import CHekaWire

/// The process-wide malloc settings the daemon runs with.
///
/// A message in flight is made on an input's thread and freed on a reader's. Its bytes
/// are blocks that go back to their maker (heka_block.h); its ``MessageView`` object
/// (about 150 bytes) is malloc's, and glibc frees a chunk over its "fast" size (128
/// bytes by default) under its arena's lock, which the maker's next malloc then waits
/// on. ``tuneAllocator()`` raises that size so the view is freed without the lock.
public enum MessageMemory {
    /// Called once by the `luapiped` commands that run sandboxes, before any thread
    /// starts; a program embedding the library keeps its own settings.
    public static func tuneAllocator() {
        heka_block_tune_malloc()
    }
}
