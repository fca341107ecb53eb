/* clp_lua_layout.h: owns reading a Lua table's entries in place, from its node array.
 *
 * Through the API a table is walked with lua_next, which finds the previous key again by
 * hashing it: about 200 instructions an entry, the most of a decoder's inject_message.
 * The encoder reads a reused Fields table (and its {value=, representation=} tables)
 * straight from the nodes instead, and a message table's headers too: for two keys that
 * costs about what lua_next does, for more it costs less (the nginx decoder's table:
 * 2.4% fewer instructions a line), and the per-record path runs three functions fewer.
 *
 * The layouts below are Lua 5.4's Table, Node and TString (lobject.h, the same from 5.4.0
 * to 5.4.6); Debian ships no internal header. Whether they hold for the library linked is
 * checked once per process, when the first sandbox is made, by reading a table of every
 * kind of key and value both ways (clp_lua_layout_check). If anything differs,
 * clp_lt_table answers NULL and the callers walk with lua_next as before. Reading never
 * changes the table and runs no Lua code, so nothing read can be collected or moved
 * meanwhile. */
#ifndef CLP_LUA_LAYOUT_H
#define CLP_LUA_LAYOUT_H

#include "clp_state.h"

#if LUA_VERSION_NUM == 504
typedef union {
    void *gc;
    lua_Integer i;
    lua_Number n;
} lt_value;
typedef struct {
    lt_value v;
    unsigned char tt, key_tt;
    int next;
    lt_value key;
} lt_node;
typedef struct {
    void *next;
    unsigned char tt, marked, flags, lsizenode;
    unsigned int alimit;
    void *array;
    const lt_node *node;
} lt_table;
typedef struct {
    void *next;
    unsigned char tt, marked, extra, shrlen;
    unsigned int hash;
    size_t lnglen;
    char contents[1];
} lt_string;
/* type tags: variant << 4 | type, and 0x40 for collectable values */
enum { LT_FALSE = 0x01, LT_TRUE = 0x11, LT_INT = 0x03, LT_FLOAT = 0x13, LT_SHORT = 0x44, LT_LONG = 0x54, LT_TABLE = 0x45 };

static inline int lt_string_tag(int tt) { return tt == LT_SHORT || tt == LT_LONG; }
static inline int lt_plain_tag(int tt) {
    return lt_string_tag(tt) || tt == LT_INT || tt == LT_FLOAT || tt == LT_FALSE || tt == LT_TRUE;
}
/* A string's bytes (gc: a key's or a value's lt_string) and its length (tt: its tag). */
static inline const char *lt_chars(const void *gc) { return ((const lt_string *)gc)->contents; }
static inline size_t lt_len(const lt_string *s, int tt) { return tt == LT_SHORT ? s->shrlen : s->lnglen; }
static inline const lt_node *lt_end(const lt_table *t) { return t->node + ((size_t)1 << t->lsizenode); }

/* The next node from *at (up to end) holding a value; NULL when none is left. */
static inline const lt_node *lt_next(const lt_node **at, const lt_node *end) {
    while (*at < end) {
        const lt_node *n = (*at)++;
        if (n->tt & 0x0F) return n; /* not nil or empty */
    }
    return NULL;
}

/* The table at idx, to read in place: NULL when the layout check did not hold, or when
 * the table has an array part (integer keys: the callers' general path deals with them). */
const lt_table *clp_lt_table(lua_State *L, int idx);
#endif

/* Checks the layout, once per process; raises only memory errors. */
void clp_lua_layout_check(lua_State *L);

#endif
