/* Regular expressions for locations (PCRE2, compiled once at load, JIT where the CPU has it):
 * the one file that includes pcre2.h. Matching is thread-safe: each thread keeps its own match
 * data. */
#ifndef TERN_SERVER_REGEX_H
#define TERN_SERVER_REGEX_H

#include <stddef.h>

#include "core/str.h"

#define REGEX_MAX_CAPTURES 9

struct regex;

/* Compiles pattern (UTF-8 off: paths are bytes). NULL with a message and the offset of the
 * error in the pattern. *captures gets the number of capture groups. */
struct regex *regex_compile(const char *pattern, int *captures, char *err, size_t errlen,
                            size_t *offset);
void regex_free(struct regex *re);
/* Matches subject; on a match fills caps[1..n] (caps[0]: the whole match; a group that took no
 * part is empty) and returns n (the groups, at most REGEX_MAX_CAPTURES), else -1. */
int regex_match(const struct regex *re, const char *subject, size_t len,
                str_t caps[REGEX_MAX_CAPTURES + 1]);

#endif
