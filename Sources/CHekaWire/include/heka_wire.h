/* heka_wire.h: owns Heka's wire format, once for C and Swift: the protobuf field
 * numbers of Message, Field and Header, Field's value types, and the stream framing
 * (its bytes, sizes and the frame header writer). Plain C without Lua, so that a client
 * library can use it without linking the sandbox. */
#ifndef HEKA_WIRE_H
#define HEKA_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Anonymous enums throughout: Swift imports their constants as plain Ints. */

/* Protobuf wire types. */
enum { HEKA_WIRE_VARINT = 0, HEKA_WIRE_FIXED64 = 1, HEKA_WIRE_BYTES = 2, HEKA_WIRE_FIXED32 = 5 };

/* A field's key byte(s): field number and wire type. */
#define HEKA_TAG(field, wire) ((field) << 3 | (wire))

/* Field numbers of Heka's message.proto `Message`. */
enum {
    HEKA_MESSAGE_UUID = 1,
    HEKA_MESSAGE_TIMESTAMP = 2,
    HEKA_MESSAGE_TYPE = 3,
    HEKA_MESSAGE_LOGGER = 4,
    HEKA_MESSAGE_SEVERITY = 5,
    HEKA_MESSAGE_PAYLOAD = 6,
    HEKA_MESSAGE_ENV_VERSION = 7,
    HEKA_MESSAGE_PID = 8,
    HEKA_MESSAGE_HOSTNAME = 9,
    HEKA_MESSAGE_FIELDS = 10
};

/* Field numbers of `Field` (the numeric values are packed). */
enum {
    HEKA_FIELD_NAME = 1,
    HEKA_FIELD_VALUE_TYPE = 2,
    HEKA_FIELD_REPRESENTATION = 3,
    HEKA_FIELD_VALUE_STRING = 4,
    HEKA_FIELD_VALUE_BYTES = 5,
    HEKA_FIELD_VALUE_INTEGER = 6,
    HEKA_FIELD_VALUE_DOUBLE = 7,
    HEKA_FIELD_VALUE_BOOL = 8
};

/* `Field.ValueType` (STRING, the default, is left out on the wire). */
enum {
    HEKA_VALUE_STRING = 0,
    HEKA_VALUE_BYTES = 1,
    HEKA_VALUE_INTEGER = 2,
    HEKA_VALUE_DOUBLE = 3,
    HEKA_VALUE_BOOL = 4
};

/* Where one Field submessage of an encoded message is: the byte offsets of its body
 * and of its name, from the start of the message. A message view keeps an array of them
 * beside its bytes, where C reads them too. 32-bit offsets (a message is far under 2 GiB:
 * max_message_size bounds it): 16 bytes a field, so a typical log line's message and its
 * slots fit a 512-byte block, and a reader's scan of the slots touches half the lines. */
typedef struct {
    int32_t start, end, name_start, name_end;
} heka_field_slot;

/* Field number of `Header.message_length` (a varint). */
enum { HEKA_HEADER_MESSAGE_LENGTH = 1 };

/* Stream framing: RS, the Header's length in one byte, the Header, US, the message. */
enum {
    HEKA_RECORD_SEPARATOR = 0x1E,
    HEKA_UNIT_SEPARATOR = 0x1F,
    /* the Header's length is one byte */
    HEKA_MAX_HEADER_SIZE = 255,
    /* what heka_frame_header writes at most: RS, length, tag, a 10-byte varint, US */
    HEKA_FRAME_HEADER_MAX = 14,
    /* Heka's default max_message_size */
    HEKA_DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024
};

/* Writes the frame header that goes before a message of `message_length` bytes (a
 * Header holding only message_length) into out, which has room for
 * HEKA_FRAME_HEADER_MAX bytes; returns the bytes written. Inline: it runs once per
 * framed message on the output path. */
static inline size_t heka_frame_header(uint8_t *out, uint64_t message_length) {
    size_t h = 0;
    out[h++] = HEKA_RECORD_SEPARATOR;
    out[h++] = 0; /* the Header's length, patched below */
    out[h++] = HEKA_TAG(HEKA_HEADER_MESSAGE_LENGTH, HEKA_WIRE_VARINT);
    uint64_t v = message_length;
    while (v >= 0x80) {
        out[h++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[h++] = (uint8_t)v;
    out[1] = (uint8_t)(h - 2);
    out[h++] = HEKA_UNIT_SEPARATOR;
    return h;
}

#ifdef __cplusplus
}
#endif
#endif
