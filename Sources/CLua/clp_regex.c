/* PCRE2 wrapper for the message matcher; see include/clp_regex.h. */
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clp_regex.h"

struct clp_regex {
    pcre2_code *code;
    int jit; /* 1 when pcre2_jit_compile succeeded */
};

/*
 * One match-data block per thread, shared by every pattern: only the whole match and
 * the first group are read, so a block with two ovector pairs serves any pattern (PCRE2
 * returns 0 instead of the capture count when the ovector is too small, which still
 * means "matched").
 * A pthread key rather than _Thread_local so the block is freed when the thread exits.
 */
static pthread_key_t match_data_key;
static pthread_once_t match_data_once = PTHREAD_ONCE_INIT;
static int match_data_key_ok;

static void free_match_data(void *md)
{
    pcre2_match_data_free((pcre2_match_data *)md);
}

static void make_match_data_key(void)
{
    match_data_key_ok = pthread_key_create(&match_data_key, free_match_data) == 0;
}

static pcre2_match_data *thread_match_data(void)
{
    pthread_once(&match_data_once, make_match_data_key);
    if (!match_data_key_ok) return NULL;
    pcre2_match_data *md = pthread_getspecific(match_data_key);
    if (md) return md;
    md = pcre2_match_data_create(2, NULL);
    if (md && pthread_setspecific(match_data_key, md) != 0) {
        pcre2_match_data_free(md);
        return NULL;
    }
    return md;
}

clp_regex *clp_regex_compile(const char *pattern, size_t length,
                             char *error_message, size_t error_message_size,
                             size_t *error_offset)
{
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    /* An empty pattern may come with a NULL pointer; PCRE2 wants a valid one. */
    PCRE2_SPTR p = length ? (PCRE2_SPTR)pattern : (PCRE2_SPTR)"";
    pcre2_code *code = pcre2_compile(p, length, options, &errcode, &erroff, NULL);
    if (!code) {
        if (error_message && error_message_size) {
            if (pcre2_get_error_message(errcode, (PCRE2_UCHAR *)error_message,
                                        error_message_size) < 0) {
                error_message[error_message_size - 1] = 0;
            }
        }
        if (error_offset) *error_offset = erroff;
        return NULL;
    }
    clp_regex *re = malloc(sizeof *re);
    if (!re) {
        pcre2_code_free(code);
        if (error_message && error_message_size) {
            strncpy(error_message, "out of memory", error_message_size - 1);
            error_message[error_message_size - 1] = 0;
        }
        if (error_offset) *error_offset = 0;
        return NULL;
    }
    re->code = code;
    /* The JIT is an optimisation only: when unavailable, the interpreter is used. */
    re->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    return re;
}

int clp_regex_match(const clp_regex *re, const void *subject, size_t length)
{
    pcre2_match_data *md = thread_match_data();
    if (!md) return -1;
    PCRE2_SPTR s = length ? (PCRE2_SPTR)subject : (PCRE2_SPTR)"";
    int rc = re->jit ? pcre2_jit_match(re->code, s, length, 0, 0, md, NULL)
                     : pcre2_match(re->code, s, length, 0, 0, md, NULL);
    if (rc >= 0) return 1;
    return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

int clp_regex_search(const clp_regex *re, const void *subject, size_t length, size_t start,
                     size_t *match_start, size_t *match_end)
{
    size_t gs, ge;
    return clp_regex_search_group(re, subject, length, start, match_start, match_end, &gs, &ge);
}

int clp_regex_search_group(const clp_regex *re, const void *subject, size_t length, size_t start,
                           size_t *match_start, size_t *match_end, size_t *group_start, size_t *group_end)
{
    pcre2_match_data *md = thread_match_data();
    if (!md) return -1;
    PCRE2_SPTR s = length ? (PCRE2_SPTR)subject : (PCRE2_SPTR)"";
    int rc = re->jit ? pcre2_jit_match(re->code, s, length, start, 0, md, NULL)
                     : pcre2_match(re->code, s, length, start, 0, md, NULL);
    if (rc < 0) return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *match_start = ov[0];
    *match_end = ov[1];
    int set = rc == 0 || rc >= 2;  /* 0: more groups than pairs, all filled as far as they go */
    *group_start = set && ov[2] != PCRE2_UNSET ? ov[2] : (size_t)-1;
    *group_end = set && ov[3] != PCRE2_UNSET ? ov[3] : (size_t)-1;
    return 1;
}

int clp_regex_capture_count(const clp_regex *re)
{
    uint32_t n = 0;
    return pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &n) == 0 ? (int)n : -1;
}

int clp_regex_named_group(const clp_regex *re, const void *subject, size_t length, const char *name,
                          size_t *group_start, size_t *group_end)
{
    /* The shared per-thread match data holds the whole match only: groups need their own. */
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!md) return -1;
    PCRE2_SPTR s = length ? (PCRE2_SPTR)subject : (PCRE2_SPTR)"";
    int rc = re->jit ? pcre2_jit_match(re->code, s, length, 0, 0, md, NULL)
                     : pcre2_match(re->code, s, length, 0, 0, md, NULL);
    int result;
    if (rc < 0) {
        result = rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
    } else {
        int n = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (n < 0 || n >= rc || ov[2 * n] == PCRE2_UNSET) {
            result = 2; /* matched, group absent or unset */
        } else {
            *group_start = ov[2 * n];
            *group_end = ov[2 * n + 1];
            result = 1;
        }
    }
    pcre2_match_data_free(md);
    return result;
}

int clp_regex_is_jit(const clp_regex *re)
{
    return re->jit;
}

void clp_regex_free(clp_regex *re)
{
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}
