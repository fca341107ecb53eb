/* heka_type_key.h: the one-byte key of a message's Type that the router keeps beside
 * each message, so a reader whose matcher requires one Type tells messages apart without
 * reading them (memory another thread wrote).
 *
 * A Type some matcher names is "watched" (heka_type_watch, when the matcher compiles) and
 * gets an exact key, 128..255, its own: a message made after that has it, and no other
 * message does. Any other Type's key is a 7-bit hash, 0..127, shared by about 1 in 128
 * Types. So for a reader of Type X: an entry with X's exact key is of Type X; one with
 * X's hash may be of Type X (made before X was watched) or of a twin, and its matcher
 * decides; any other key is of another Type. At most 128 Types are watched; the others
 * keep their hash (readers of them are still correct, with more twins). */
#ifndef HEKA_TYPE_KEY_H
#define HEKA_TYPE_KEY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The Type's 7-bit hash, 0..127. */
uint8_t heka_type_hash(const void *type, size_t len);

/* The key of a message of this Type: its exact key when the Type is watched, else its
 * hash. Any thread, no lock. */
uint8_t heka_type_key(const void *type, size_t len);

/* Watches the Type (once; later calls return the same key): its exact key, 128..255, or
 * 0 when it cannot be watched (128 Types are, or it is longer than 255 bytes). */
uint8_t heka_type_watch(const void *type, size_t len);

#ifdef __cplusplus
}
#endif

#endif
