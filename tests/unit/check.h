/* Minimal unit-test helpers: CHECK records a failure and goes on; check_done() prints the
 * tally and returns the exit status (meson counts a non-zero exit as a failed test). */
#ifndef TERN_TEST_CHECK_H
#define TERN_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        check_count++;                                                                             \
        if (check_a_ != check_b_) {                                                                \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a,          \
                    check_a_, check_b_);                                                           \
        }                                                                                          \
    } while (0)

/* Compares a (pointer, length) pair with a C string. */
#define CHECK_STRN(p, n, s)                                                                        \
    do {                                                                                           \
        const char *check_s_ = (s);                                                                \
        size_t check_n_ = (size_t)(n);                                                             \
        check_count++;                                                                             \
        if (check_n_ != strlen(check_s_) || memcmp((p), check_s_, check_n_) != 0) {                \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: got \"%.*s\", expected \"%s\"\n", __FILE__, __LINE__,          \
                    (int)check_n_, (const char *)(p), check_s_);                                   \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b) CHECK_STRN((a), strlen(a), (b))

static inline int check_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
