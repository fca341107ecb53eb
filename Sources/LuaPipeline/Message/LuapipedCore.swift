// The message model, protobuf codec and framing live in the Lua-free LuapipedCore target
// (shared with the client library); LuaPipeline's users see them through this import.
@_exported import LuapipedCore
