#!/usr/bin/env python3
"""Regenerates the golden files for luapiped's Heka message codec tests.

The bytes come from the real protobuf library (`pip install protobuf`), with Heka's
message.proto built at run time from descriptors (no protoc needed). The expected JSON
form is written here from each case's definition, following docs/message-json.md; it is
not produced by luapiped. The fixtures are committed: tests never run this script.

    python3 scripts/make-golden.py [OUTDIR]

OUTDIR defaults to Tests/LuaPipelineTests/Fixtures/golden. It receives, for each case
NAME, NAME.pb (the serialized Message) and NAME.json (its JSON form, one line ending in
a newline); cases.txt (the case names, one a line, in stream order); stream.framed (all
cases in Heka's stream framing); and header-extras.framed (one case framed with a header
that also sets every optional Header field). Output is deterministic.
"""

import base64
import json
import math
import os
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool

try:
    from google.protobuf.message_factory import GetMessageClass
except ImportError:  # protobuf < 4.21
    from google.protobuf import message_factory

    def GetMessageClass(desc):
        return message_factory.MessageFactory().GetPrototype(desc)


# --- Heka's message.proto, as descriptors ------------------------------------------------

FDP = descriptor_pb2.FieldDescriptorProto


def _field(msg, name, number, ftype, label=FDP.LABEL_OPTIONAL, type_name=None, default=None, packed=False):
    f = msg.field.add()
    f.name, f.number, f.type, f.label = name, number, ftype, label
    if type_name:
        f.type_name = type_name
    if default is not None:
        f.default_value = default
    if packed:
        f.options.packed = True


def _enum(parent, name, values):
    e = parent.enum_type.add()
    e.name = name
    for n, v in values:
        ev = e.value.add()
        ev.name, ev.number = n, v


def build_schema():
    fp = descriptor_pb2.FileDescriptorProto()
    fp.name = "message.proto"
    fp.package = "message"
    fp.syntax = "proto2"

    h = fp.message_type.add()
    h.name = "Header"
    _enum(h, "MessageEncoding", [("PROTOCOL_BUFFER", 0), ("JSON", 1)])
    _enum(h, "HmacHashFunction", [("MD5", 0), ("SHA1", 1)])
    _field(h, "message_length", 1, FDP.TYPE_UINT32, FDP.LABEL_REQUIRED)
    _field(h, "message_encoding", 2, FDP.TYPE_ENUM, type_name=".message.Header.MessageEncoding", default="PROTOCOL_BUFFER")
    _field(h, "hmac_hash_function", 3, FDP.TYPE_ENUM, type_name=".message.Header.HmacHashFunction", default="MD5")
    _field(h, "hmac_signer", 4, FDP.TYPE_STRING)
    _field(h, "hmac_key_version", 5, FDP.TYPE_UINT32)
    _field(h, "hmac", 6, FDP.TYPE_BYTES)

    f = fp.message_type.add()
    f.name = "Field"
    _enum(f, "ValueType", [("STRING", 0), ("BYTES", 1), ("INTEGER", 2), ("DOUBLE", 3), ("BOOL", 4)])
    _field(f, "name", 1, FDP.TYPE_STRING, FDP.LABEL_REQUIRED)
    _field(f, "value_type", 2, FDP.TYPE_ENUM, type_name=".message.Field.ValueType", default="STRING")
    _field(f, "representation", 3, FDP.TYPE_STRING)
    _field(f, "value_string", 4, FDP.TYPE_STRING, FDP.LABEL_REPEATED)
    _field(f, "value_bytes", 5, FDP.TYPE_BYTES, FDP.LABEL_REPEATED)
    _field(f, "value_integer", 6, FDP.TYPE_INT64, FDP.LABEL_REPEATED, packed=True)
    _field(f, "value_double", 7, FDP.TYPE_DOUBLE, FDP.LABEL_REPEATED, packed=True)
    _field(f, "value_bool", 8, FDP.TYPE_BOOL, FDP.LABEL_REPEATED, packed=True)

    m = fp.message_type.add()
    m.name = "Message"
    _field(m, "uuid", 1, FDP.TYPE_BYTES, FDP.LABEL_REQUIRED)
    _field(m, "timestamp", 2, FDP.TYPE_INT64, FDP.LABEL_REQUIRED)
    _field(m, "type", 3, FDP.TYPE_STRING)
    _field(m, "logger", 4, FDP.TYPE_STRING)
    _field(m, "severity", 5, FDP.TYPE_INT32, default="7")
    _field(m, "payload", 6, FDP.TYPE_STRING)
    _field(m, "env_version", 7, FDP.TYPE_STRING)
    _field(m, "pid", 8, FDP.TYPE_INT32)
    _field(m, "hostname", 9, FDP.TYPE_STRING)
    _field(m, "fields", 10, FDP.TYPE_MESSAGE, FDP.LABEL_REPEATED, type_name=".message.Field")

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fp)
    return tuple(GetMessageClass(pool.FindMessageTypeByName("message." + n)) for n in ("Header", "Field", "Message"))


HeaderPB, FieldPB, MessagePB = build_schema()


# --- The cases ---------------------------------------------------------------------------
#
# A field is (name, type, [values]) or (name, type, [values], representation), type one of
# "string", "bytes", "integer", "double", "bool". Header keys: uuid (16 bytes), timestamp,
# and optionally type, logger, severity, payload, env_version, pid, hostname.

TYPE_CODES = {"string": 0, "bytes": 1, "integer": 2, "double": 3, "bool": 4}
VALUE_ATTR = {"string": "value_string", "bytes": "value_bytes", "integer": "value_integer",
              "double": "value_double", "bool": "value_bool"}

INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)
INT32_MAX, INT32_MIN = 2**31 - 1, -(2**31)


def uuid(n):
    """A fixed, distinct 16-byte uuid per case."""
    return bytes(((n * 37 + i * 11) ^ (0xA5 if i % 2 else 0x3C)) & 0xFF for i in range(16))


CASES = [
    ("minimal", dict(uuid=uuid(1), timestamp=0)),
    ("all_headers", dict(
        uuid=uuid(2), timestamp=1700000000123456789, type="nginx.access", logger="TestInput",
        severity=7, payload="GET / HTTP/1.1", env_version="0.8", pid=4242, hostname="web-01.example.com")),
    ("negative_severity_pid", dict(uuid=uuid(3), timestamp=1, severity=-1, pid=-12345)),
    ("int32_extremes", dict(uuid=uuid(4), timestamp=2, severity=INT32_MIN, pid=INT32_MAX)),
    ("severity_zero", dict(uuid=uuid(5), timestamp=3, severity=0, pid=0)),
    ("timestamp_above_2_53", dict(uuid=uuid(6), timestamp=2**53 + 1)),
    ("timestamp_int64_max", dict(uuid=uuid(7), timestamp=INT64_MAX)),
    ("timestamp_negative", dict(uuid=uuid(8), timestamp=-86400000000001)),
    ("timestamp_int64_min", dict(uuid=uuid(9), timestamp=INT64_MIN)),
    ("uuid_extremes", dict(uuid=bytes([0x00, 0xFF] * 8), timestamp=5)),
    ("unicode_payload", dict(
        uuid=uuid(10), timestamp=1600000000000000000, type="unicode",
        payload="h\u00e9llo w\u00f6rld \u2014 \u65e5\u672c\u8a9e \U0001F600 \U00010348 \u00a0end",
        hostname="h\u00f4te")),
    ("escapes", dict(
        uuid=uuid(11), timestamp=6, type="quote\" backslash\\ slash/",
        payload="line1\nline2\r\ttab \x00 nul \x01\x08\x0c\x1f del\x7f \u2028 end",
        logger="<script>&'")),
    ("empty_strings", dict(
        uuid=uuid(12), timestamp=7, type="", logger="", payload="", env_version="", hostname="",
        fields=[("empty", "string", [""]), ("", "string", ["unnamed"])])),
    ("field_string", dict(uuid=uuid(13), timestamp=8, fields=[("s", "string", ["one"])])),
    ("field_string_multi", dict(uuid=uuid(14), timestamp=9, fields=[("s", "string", ["a", "", "c\u00e9\n"])])),
    ("field_bytes", dict(uuid=uuid(15), timestamp=10, fields=[("b", "bytes", [b"\x00\xff\xfe\x80abc"])])),
    ("field_bytes_multi", dict(uuid=uuid(16), timestamp=11, fields=[
        ("b", "bytes", [b"\xc3\x28", b"", b"plain text", bytes(range(256))])])),
    ("field_integer", dict(uuid=uuid(17), timestamp=12, fields=[("i", "integer", [42])])),
    ("field_integer_multi", dict(uuid=uuid(18), timestamp=13, fields=[
        ("i", "integer", [0, 1, -1, 127, 128, 300, 2**53 + 1, -(2**53) - 1, INT64_MAX, INT64_MIN])])),
    ("field_double", dict(uuid=uuid(19), timestamp=14, fields=[("d", "double", [3.0])])),
    ("field_double_multi", dict(uuid=uuid(20), timestamp=15, fields=[
        ("d", "double", [3.0, 1e300, -0.5, 0.1, 0.0, -0.0, 1e16, 1e15, 1e-05, 0.0001, 5e-324,
                         1.7976931348623157e308, -2.5e-07, 9007199254740993.0, 123.456])])),
    ("field_bool", dict(uuid=uuid(21), timestamp=16, fields=[("t", "bool", [True])])),
    ("field_bool_multi", dict(uuid=uuid(22), timestamp=17, fields=[("t", "bool", [True, False, False, True])])),
    ("representation", dict(uuid=uuid(23), timestamp=18, fields=[
        ("sized", "integer", [5120], "B"),
        ("latency", "double", [0.25, 1.5], "s"),
        ("tag", "string", ["x"], ""),
        ("blob", "bytes", [b"\x01\x02"], "raw"),
        ("flags", "bool", [False], "flag"),
        ("plain", "integer", [1])])),
    ("every_type", dict(
        uuid=uuid(24), timestamp=1700000000000000000, type="mixed", severity=3, fields=[
            ("str", "string", ["v"]), ("bin", "bytes", [b"\xde\xad\xbe\xef"]),
            ("int", "integer", [-7]), ("dbl", "double", [2.5]), ("bool", "bool", [False]),
            ("naïve \"q\"\n", "string", ["unicode \u00fc name"])])),
    ("repeated_names", dict(uuid=uuid(25), timestamp=19, payload="p", fields=[
        ("dup", "string", ["first"]),
        ("other", "integer", [1, 2]),
        ("dup", "integer", [2]),
        ("dup", "bytes", [b"\xff"], "raw"),
        ("dup", "double", [3.0], "ms"),
        ("solo", "bool", [True, False])])),
    ("empty_value_arrays", dict(uuid=uuid(26), timestamp=20, fields=[
        ("no_strings", "string", []), ("no_ints", "integer", []), ("no_doubles", "double", [], "ms"),
        ("no_bools", "bool", []), ("no_bytes", "bytes", [])])),
    ("many_fields", dict(uuid=uuid(27), timestamp=21, fields=[
        ("f%03d" % i, ("string", "integer", "double", "bool")[i % 4],
         [["v%d" % i], [i * 1000003 - 50000000], [i / 8.0], [i % 3 == 0]][i % 4]) for i in range(40)])),
    ("large_payload", dict(uuid=uuid(28), timestamp=22, payload="0123456789abcdef" * 1024 + "\u00e9")),
]


def to_pb(case):
    m = MessagePB()
    m.uuid = case["uuid"]
    m.timestamp = case["timestamp"]
    for key in ("type", "logger", "severity", "payload", "env_version", "pid", "hostname"):
        if key in case:
            setattr(m, key, case[key])
    for fdef in case.get("fields", []):
        name, ftype, values = fdef[:3]
        f = m.fields.add()
        f.name = name
        if ftype != "string":
            f.value_type = TYPE_CODES[ftype]
        if len(fdef) > 3:
            f.representation = fdef[3]
        getattr(f, VALUE_ATTR[ftype]).extend(values)
    return m


# --- The JSON form, written from the case definition -------------------------------------


def j_string(s):
    """JSON string: escapes ", \\, \\n, \\r, \\t, other controls and DEL as \\u00xx; the rest raw UTF-8."""
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif c < 0x20 or c == 0x7F:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def j_double(d):
    """Shortest round-trip digits; always a fraction or an exponent (3.0, 1e+300, 1e-05)."""
    assert math.isfinite(d)
    s = repr(d)
    if not any(c in s for c in ".eE"):
        s += ".0"
    return s


def j_scalar(ftype, v):
    if ftype == "string":
        return j_string(v)
    if ftype == "bytes":
        return j_string(base64.b64encode(v).decode("ascii"))
    if ftype == "integer":
        assert isinstance(v, int) and not isinstance(v, bool)
        return str(v)
    if ftype == "double":
        return j_double(float(v))
    if ftype == "bool":
        return "true" if v else "false"
    raise ValueError(ftype)


def j_values(ftype, values):
    if len(values) == 1:
        return j_scalar(ftype, values[0])
    return "[" + ",".join(j_scalar(ftype, v) for v in values) + "]"


def j_field(fdef, array_form):
    name, ftype, values = fdef[:3]
    rep = fdef[3] if len(fdef) > 3 else None
    # value_type is shown for bytes (base64 text would read back as a string) and for an
    # empty non-string array (nothing else tells its type).
    show_type = ftype == "bytes" or (not values and ftype != "string")
    if not array_form and not show_type and rep is None:
        return j_values(ftype, values)
    parts = []
    if array_form:
        parts.append('"name":' + j_string(name))
    if show_type:
        parts.append('"value_type":%d' % TYPE_CODES[ftype])
    parts.append('"value":' + j_values(ftype, values))
    if rep is not None:
        parts.append('"representation":' + j_string(rep))
    return "{" + ",".join(parts) + "}"


def to_json(case):
    parts = ['"Timestamp":%d' % case["timestamp"]]
    for key, jkey in (("type", "Type"), ("logger", "Logger"), ("severity", "Severity"),
                      ("payload", "Payload"), ("hostname", "Hostname"), ("pid", "Pid"),
                      ("env_version", "EnvVersion")):
        if key in case:
            v = case[key]
            parts.append(j_string(jkey) + ":" + (str(v) if isinstance(v, int) else j_string(v)))
    parts.append('"Uuid":' + j_string(case["uuid"].hex()))
    fields = case.get("fields", [])
    if fields:
        names = [f[0] for f in fields]
        if len(set(names)) == len(names):
            body = "{" + ",".join(j_string(f[0]) + ":" + j_field(f, False) for f in fields) + "}"
        else:
            body = "[" + ",".join(j_field(f, True) for f in fields) + "]"
        parts.append('"Fields":' + body)
    return "{" + ",".join(parts) + "}"


# --- Self-checks: the JSON text and the bytes both say what the case says ----------------


def check_json(case, text):
    doc = json.loads(text, parse_float=float, parse_int=int)
    assert list(doc)[0] == "Timestamp" and doc["Timestamp"] == case["timestamp"]
    assert doc["Uuid"] == case["uuid"].hex()
    for key, jkey in (("type", "Type"), ("logger", "Logger"), ("severity", "Severity"),
                      ("payload", "Payload"), ("hostname", "Hostname"), ("pid", "Pid"),
                      ("env_version", "EnvVersion")):
        assert doc.get(jkey) == case.get(key), (jkey, doc.get(jkey), case.get(key))
    fields = case.get("fields", [])
    if not fields:
        assert "Fields" not in doc
        return
    got = doc["Fields"]
    entries = got if isinstance(got, list) else [dict(v, name=k) if isinstance(v, dict) else {"name": k, "value": v}
                                                 for k, v in got.items()]
    assert len(entries) == len(fields)
    for fdef, e in zip(fields, entries):
        name, ftype, values = fdef[:3]
        assert e["name"] == name
        vals = e["value"] if isinstance(e["value"], list) else [e["value"]]
        if ftype == "bytes":
            vals = [base64.b64decode(v, validate=True) for v in vals]
        if ftype == "double":
            assert all(type(v) is float for v in vals)
            assert [struct.pack("<d", v) for v in vals] == [struct.pack("<d", v) for v in values]
        else:
            assert vals == values and [type(v) for v in vals] == [type(v) for v in values], (name, vals, values)
        assert e.get("representation") == (fdef[3] if len(fdef) > 3 else None)


def check_pb(case, data):
    m = MessagePB()
    m.ParseFromString(data)
    assert m.uuid == case["uuid"] and m.timestamp == case["timestamp"]
    for key in ("type", "logger", "severity", "payload", "env_version", "pid", "hostname"):
        assert m.HasField(key) == (key in case), key
    assert len(m.fields) == len(case.get("fields", []))
    assert m.SerializeToString(deterministic=True) == data


def frame(data):
    h = HeaderPB()
    h.message_length = len(data)
    hb = h.SerializeToString()
    assert len(hb) < 256
    return bytes([0x1E, len(hb)]) + hb + bytes([0x1F]) + data


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "Tests", "LuaPipelineTests", "Fixtures", "golden")
    out = os.path.normpath(sys.argv[1] if len(sys.argv) > 1 else default)
    os.makedirs(out, exist_ok=True)
    names = [n for n, _ in CASES]
    assert len(set(names)) == len(names)
    stream = bytearray()
    for name, case in CASES:
        pb = to_pb(case).SerializeToString(deterministic=True)
        check_pb(case, pb)
        text = to_json(case)
        check_json(case, text)
        with open(os.path.join(out, name + ".pb"), "wb") as f:
            f.write(pb)
        with open(os.path.join(out, name + ".json"), "w", encoding="utf-8", newline="\n") as f:
            f.write(text + "\n")
        stream += frame(pb)
    with open(os.path.join(out, "cases.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(names) + "\n")
    with open(os.path.join(out, "stream.framed"), "wb") as f:
        f.write(stream)

    # A header with every optional field set: readers must skip what they do not use.
    pb = to_pb(dict(CASES)["all_headers"]).SerializeToString(deterministic=True)
    h = HeaderPB()
    h.message_length = len(pb)
    h.message_encoding = HeaderPB.PROTOCOL_BUFFER
    h.hmac_hash_function = HeaderPB.SHA1
    h.hmac_signer = "signer"
    h.hmac_key_version = 3
    h.hmac = bytes(range(20))
    hb = h.SerializeToString()
    with open(os.path.join(out, "header-extras.framed"), "wb") as f:
        f.write(bytes([0x1E, len(hb)]) + hb + bytes([0x1F]) + pb)
    print("wrote %d cases to %s" % (len(CASES), out))


if __name__ == "__main__":
    main()
