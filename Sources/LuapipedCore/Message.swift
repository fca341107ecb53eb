import CHekaWire

/// Heka's message, the one thing that flows through luapiped.
///
/// This tree form is for building and inspecting messages (tests, `luapiped test`, JSON
/// input). The hot path never uses it: routing and `read_message` work on ``MessageView``,
/// which reads straight from the encoded protobuf.
public struct Message: Sendable, Equatable {
    /// 16 raw bytes.
    public var uuid: [UInt8]
    /// Nanoseconds since the Unix epoch.
    public var timestamp: Int64
    public var type: String?
    public var logger: String?
    /// `nil` means absent; readers see Heka's default, 7.
    public var severity: Int32?
    public var payload: String?
    public var envVersion: String?
    public var pid: Int32?
    public var hostname: String?
    public var fields: [Field]

    public init(
        uuid: [UInt8] = [UInt8](repeating: 0, count: 16), timestamp: Int64 = 0,
        type: String? = nil, logger: String? = nil, severity: Int32? = nil,
        payload: String? = nil, envVersion: String? = nil, pid: Int32? = nil,
        hostname: String? = nil, fields: [Field] = []
    ) {
        self.uuid = uuid
        self.timestamp = timestamp
        self.type = type
        self.logger = logger
        self.severity = severity
        self.payload = payload
        self.envVersion = envVersion
        self.pid = pid
        self.hostname = hostname
        self.fields = fields
    }

    /// The first field called `name`, if any.
    public func field(_ name: String) -> Field? {
        fields.first { $0.name == name }
    }
}

/// One of a message's `Fields`: a name, an optional representation (a unit such as `"B"`
/// or `"ms"`) and an array of values of one type.
public struct Field: Sendable, Equatable {
    public var name: String
    public var representation: String?
    public var value: FieldValue

    public init(name: String, value: FieldValue, representation: String? = nil) {
        self.name = name
        self.value = value
        self.representation = representation
    }
}

/// Heka's `Field.ValueType` with the values of that type.
public enum FieldValue: Sendable, Equatable {
    case string([String])
    case bytes([[UInt8]])
    case integer([Int64])
    case double([Double])
    case bool([Bool])

    /// Heka's numeric code of the value type (`STRING = 0` … `BOOL = 4`).
    public var valueType: Int {
        switch self {
        case .string: HEKA_VALUE_STRING
        case .bytes: HEKA_VALUE_BYTES
        case .integer: HEKA_VALUE_INTEGER
        case .double: HEKA_VALUE_DOUBLE
        case .bool: HEKA_VALUE_BOOL
        }
    }

    public var count: Int {
        switch self {
        case .string(let v): v.count
        case .bytes(let v): v.count
        case .integer(let v): v.count
        case .double(let v): v.count
        case .bool(let v): v.count
        }
    }
}

/// The header names a script or a matcher can ask for.
public enum Header: String, Sendable, CaseIterable {
    case uuid = "Uuid", timestamp = "Timestamp", type = "Type", logger = "Logger"
    case severity = "Severity", payload = "Payload", envVersion = "EnvVersion", pid = "Pid"
    case hostname = "Hostname"

    /// Protobuf field number in Heka's `Message` (CHekaWire's, shared with the C encoder).
    package var fieldNumber: Int {
        switch self {
        case .uuid: HEKA_MESSAGE_UUID
        case .timestamp: HEKA_MESSAGE_TIMESTAMP
        case .type: HEKA_MESSAGE_TYPE
        case .logger: HEKA_MESSAGE_LOGGER
        case .severity: HEKA_MESSAGE_SEVERITY
        case .payload: HEKA_MESSAGE_PAYLOAD
        case .envVersion: HEKA_MESSAGE_ENV_VERSION
        case .pid: HEKA_MESSAGE_PID
        case .hostname: HEKA_MESSAGE_HOSTNAME
        }
    }
}
