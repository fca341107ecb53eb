#pragma once
/*
 * clp_regex: a tiny C face for PCRE2 (8-bit) that Swift can call.
 *
 * PCRE2's public functions are macros that paste the code-unit width onto their
 * names (pcre2_compile -> pcre2_compile_8), which Swift's importer cannot see
 * through; these wrappers are plain functions over an opaque handle.
 *
 * Patterns are compiled in UTF mode with PCRE2_MATCH_INVALID_UTF (subjects such as
 * payloads and bytes fields need not be valid UTF-8: invalid sequences simply never
 * match) and PCRE2_DOLLAR_ENDONLY (`$` means end of subject, as in Go's RE2, which
 * Heka's matcher used). The JIT is used when the platform supports it.
 *
 * Thread safety: a compiled clp_regex is immutable and may be matched from any number
 * of threads at once. Match data (PCRE2's scratch space) is kept per thread, created
 * on a thread's first match and freed when the thread exits, so matching allocates
 * nothing after warm-up. Captures are never reported: callers only learn whether the
 * pattern matched.
 *
 * Self-contained: it includes nothing from PCRE2, so importing it does not require
 * PCRE2_CODE_UNIT_WIDTH to be defined by the importer.
 */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A compiled pattern (opaque). */
typedef struct clp_regex clp_regex;

/**
 * Compiles `pattern` (`length` bytes, need not be NUL-terminated).
 *
 * Returns NULL on failure and, when `error_message` is not NULL, writes PCRE2's
 * explanation there (NUL-terminated, truncated to `error_message_size`) and the
 * byte offset in the pattern where the error was detected to `*error_offset`.
 */
clp_regex *clp_regex_compile(const char *pattern, size_t length,
                             char *error_message, size_t error_message_size,
                             size_t *error_offset);

/**
 * Returns 1 if `re` matches anywhere in `subject` (`length` bytes), 0 if not, and
 * -1 if matching failed for another reason (resource limits, out of memory); callers
 * treat -1 as "no match".
 */
int clp_regex_match(const clp_regex *re, const void *subject, size_t length);

/** Returns 1 when the pattern was JIT-compiled (for diagnostics and tests). */
/* Finds the first match at or after `start`: 1 and its [start, end) byte range, 0 when
 * there is none, -1 on an engine error. */
int clp_regex_search(const clp_regex *re, const void *subject, size_t length, size_t start,
                     size_t *match_start, size_t *match_end);

/* As clp_regex_search, also giving group 1's range ((size_t)-1 for both when the
 * pattern has no group or the group did not take part in the match). */
int clp_regex_search_group(const clp_regex *re, const void *subject, size_t length, size_t start,
                           size_t *match_start, size_t *match_end, size_t *group_start, size_t *group_end);

/* The number of capture groups of the pattern, -1 on an error. */
int clp_regex_capture_count(const clp_regex *re);

/* Matches and gives the byte range of the named group: 1 found, 2 matched without that
 * group, 0 no match, -1 engine error. */
int clp_regex_named_group(const clp_regex *re, const void *subject, size_t length, const char *name,
                          size_t *group_start, size_t *group_end);

int clp_regex_is_jit(const clp_regex *re);

/** Frees a pattern returned by clp_regex_compile; NULL is ignored. */
void clp_regex_free(clp_regex *re);

#ifdef __cplusplus
}
#endif
