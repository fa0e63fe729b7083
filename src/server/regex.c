#include "server/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct regex {
    pcre2_code *code;
    int captures; /* capture groups in the pattern, at most REGEX_MAX_CAPTURES counted */
};

struct regex *regex_compile(const char *pattern, int *captures, char *err, size_t errlen,
                            size_t *offset)
{
    int code;
    PCRE2_SIZE off = 0;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    if (!c) {
        pcre2_get_error_message(code, (PCRE2_UCHAR *)err, errlen);
        *offset = off;
        return NULL;
    }
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* where it cannot, the interpreter runs */
    uint32_t n = 0;
    pcre2_pattern_info(c, PCRE2_INFO_CAPTURECOUNT, &n);
    *captures = (int)n;
    struct regex *re = malloc(sizeof(*re));
    if (!re) {
        pcre2_code_free(c);
        snprintf(err, errlen, "out of memory");
        *offset = 0;
        return NULL;
    }
    re->code = c;
    re->captures = n > REGEX_MAX_CAPTURES ? REGEX_MAX_CAPTURES : (int)n;
    return re;
}

void regex_free(struct regex *re)
{
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

/* One match data per thread, made at its first match and freed when the thread ends. */
static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_free(void *md)
{
    pcre2_match_data_free(md);
}

static void md_key_create(void)
{
    pthread_key_create(&md_key, md_free);
}

static pcre2_match_data *thread_match_data(void)
{
    pthread_once(&md_once, md_key_create);
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (!md && (md = pcre2_match_data_create(REGEX_MAX_CAPTURES + 1, NULL)) &&
        pthread_setspecific(md_key, md) != 0) {
        pcre2_match_data_free(md);
        md = NULL;
    }
    return md;
}

int regex_match(const struct regex *re, const char *subject, size_t len,
                str_t caps[REGEX_MAX_CAPTURES + 1])
{
    pcre2_match_data *md = thread_match_data();
    if (!md) return -1;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, md, NULL);
    if (rc < 0) return -1; /* no match, or a match limit reached: not a match either way */
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    /* rc: 1 + the highest group that took part (0: the ovector was too small, not here) */
    for (int i = 0; i <= REGEX_MAX_CAPTURES; i++) {
        if (i < rc && ov[2 * i] != PCRE2_UNSET)
            caps[i] = str_make(subject + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
        else
            caps[i] = str_make(subject, 0);
    }
    return re->captures;
}
