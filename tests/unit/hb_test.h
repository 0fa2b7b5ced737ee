/* hb_test.h - a minimal unit-test harness: CHECK macros that count, and a main that runs a
 * table of test functions and ends with the line "N passed, N failed" that ctest logs show.
 *
 * A test function may call CHECK* any number of times; a test passes when none of its checks
 * failed. Failed checks print file:line and the values involved.
 */
#ifndef HB_TEST_H
#define HB_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int hb_test_failed_checks;

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);            \
            hb_test_failed_checks++;                                                            \
        }                                                                                       \
    } while (0)

/* |a - b| <= tol * max(1, |b|) */
#define CHECK_NEAR(a, b, tol)                                                                   \
    do {                                                                                        \
        double hb_a_ = (a), hb_b_ = (b);                                                        \
        double hb_s_ = fabs(hb_b_) > 1 ? fabs(hb_b_) : 1;                                       \
        if (!(fabs(hb_a_ - hb_b_) <= (tol) * hb_s_)) {                                          \
            fprintf(stderr, "%s:%d: %s = %.17g, expected %.17g (tol %g)\n", __FILE__, __LINE__, \
                    #a, hb_a_, hb_b_, (double)(tol));                                           \
            hb_test_failed_checks++;                                                            \
        }                                                                                       \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                      \
    do {                                                                                        \
        long long hb_a_ = (long long)(a), hb_b_ = (long long)(b);                               \
        if (hb_a_ != hb_b_) {                                                                   \
            fprintf(stderr, "%s:%d: %s = %lld, expected %lld\n", __FILE__, __LINE__, #a, hb_a_, \
                    hb_b_);                                                                     \
            hb_test_failed_checks++;                                                            \
        }                                                                                       \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                         \
    do {                                                                                        \
        const char *hb_h_ = (hay), *hb_n_ = (needle);                                           \
        if (!hb_h_ || !strstr(hb_h_, hb_n_)) {                                                  \
            fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__,          \
                    hb_h_ ? hb_h_ : "(null)", hb_n_);                                           \
            hb_test_failed_checks++;                                                            \
        }                                                                                       \
    } while (0)

typedef struct {
    const char *name;
    void (*fn)(void);
} hb_test_case;

static inline int hb_test_run(const hb_test_case *tests, size_t n)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        int before = hb_test_failed_checks;
        tests[i].fn();
        if (hb_test_failed_checks == before) {
            passed++;
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", tests[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define HB_TEST_MAIN(...)                                                                       \
    int main(void)                                                                              \
    {                                                                                           \
        static const hb_test_case tests_[] = {__VA_ARGS__};                                     \
        return hb_test_run(tests_, sizeof tests_ / sizeof tests_[0]);                           \
    }
#define T(fn) {#fn, fn}

#endif
