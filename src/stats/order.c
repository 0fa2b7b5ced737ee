/* order.c - order statistics: sorting, selection and percentiles of double arrays.
 *
 * Sorting is an LSD radix sort over the IEEE-754 bit pattern (flipped so that unsigned order is
 * numeric order): 6 passes of 11 bits, skipping passes whose digit is constant. It is several
 * times faster than qsort on the 10^4..10^6 samples a benchmark keeps.
 *
 * Percentiles use bucket selection (hb__percentiles_range): one pass counts
 * the values into equal-width buckets between the known minimum and maximum, a second pass
 * gathers only the few buckets that hold a wanted rank, and those are solved the same way or by
 * sorting. Bucketing is monotone in the value, so ranks are exact; the data is never copied or
 * moved, which makes describe() of a million samples a handful of streaming passes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats_internal.h"

static inline uint64_t key_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return (u >> 63) ? ~u : (u | 0x8000000000000000ull);
}

static inline double double_of(uint64_t k)
{
    uint64_t u = (k >> 63) ? (k & 0x7fffffffffffffffull) : ~k;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void insertion_sort(double *x, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double v = x[i];
        size_t j = i;
        while (j > 0 && x[j - 1] > v) {
            x[j] = x[j - 1];
            j--;
        }
        x[j] = v;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)
#define RADIX_PASSES 6

void hb_sort_doubles(double *x, size_t n)
{
    if (n < 64) {
        insertion_sort(x, n);
        return;
    }
    uint64_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    size_t(*hist)[RADIX_SIZE] = calloc(RADIX_PASSES, sizeof *hist);
    if (!a || !b || !hist) {
        free(a), free(b), free(hist);
        qsort(x, n, sizeof *x, cmp_double);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t k = key_of(x[i]);
        a[i] = k;
        for (int p = 0; p < RADIX_PASSES; p++)
            hist[p][(k >> (p * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
    }
    for (int p = 0; p < RADIX_PASSES; p++) {
        size_t *h = hist[p];
        unsigned shift = (unsigned)(p * RADIX_BITS);
        if (h[(a[0] >> shift) & (RADIX_SIZE - 1)] == n) continue; /* one digit value: no-op */
        size_t sum = 0;
        for (size_t d = 0; d < RADIX_SIZE; d++) {
            size_t c = h[d];
            h[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) b[h[(a[i] >> shift) & (RADIX_SIZE - 1)]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < n; i++) x[i] = double_of(a[i]);
    free(a), free(b), free(hist);
}

double hb_percentile_sorted(const double *s, size_t n, double p)
{
    if (n == 0) return NAN;
    double h = (double)(n - 1) * (p / 100.0);
    if (h <= 0) return s[0];
    if (h >= (double)(n - 1)) return s[n - 1];
    size_t lo = (size_t)floor(h);
    return hb__lerp(s[lo], s[lo + 1], h - (double)lo);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

#define MAX_PCT_BATCH 64

hb_status hb_percentiles(const double *x, size_t n, const double *p, size_t np, double *out,
                         hb_error *err)
{
    hb_status st = hb_check_samples(x, n, 1, "data", err);
    if (st) return st;
    for (size_t i = 0; i < np; i++)
        if (!(p[i] >= 0 && p[i] <= 100))
            return hb_fail(err, HB_ERR_INVALID, "percentile %g is outside [0, 100]", p[i]);
    double lo = x[0], hi = x[0];
    for (size_t i = 1; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    if (hb__percentiles_range(x, n, 0, 0, lo, hi, p, np, out))
        return hb_fail(err, HB_ERR_NOMEM, "cannot allocate selection buffers for %zu samples", n);
    return HB_OK;
}

/* ----------------------------------------------------------------------- bucket selection ---- */

#define SELECT_SMALL 2048
#define SELECT_BUCKETS 4096
#define SELECT_MAX_DEPTH 8

static inline double transformed(const double *x, size_t i, double centre, int absdev)
{
    return absdev ? fabs(x[i] - centre) : x[i];
}

/* The bucket of v: monotone in v (subtraction and scaling round monotonically), clamped. */
static inline size_t bucket_of(double v, double lo, double scale)
{
    int64_t b = (int64_t)((v - lo) * scale); /* in [0, SELECT_BUCKETS] for v in [lo, hi] */
    b = b < 0 ? 0 : b;                        /* clamps compile to conditional moves */
    b = b > SELECT_BUCKETS - 1 ? SELECT_BUCKETS - 1 : b;
    return (size_t)b;
}

/* Values at ranks[0..nr) (ascending, unique) of the (transformed) x, all within [lo, hi]. */
static int select_ranks(const double *x, size_t n, double centre, int absdev, double lo,
                        double hi, const size_t *ranks, size_t nr, double *out, int depth)
{
    if (nr == 0) return 0;
    double scale = (double)SELECT_BUCKETS / (hi - lo);
    if (lo == hi) {
        for (size_t i = 0; i < nr; i++) out[i] = lo;
        return 0;
    }
    if (n <= SELECT_SMALL || depth >= SELECT_MAX_DEPTH || !isfinite(scale)) {
        double *w = malloc(n * sizeof *w);
        if (!w) return -1;
        for (size_t i = 0; i < n; i++) w[i] = transformed(x, i, centre, absdev);
        hb_sort_doubles(w, n);
        for (size_t i = 0; i < nr; i++) out[i] = w[ranks[i]];
        free(w);
        return 0;
    }
    size_t *count = calloc(SELECT_BUCKETS, sizeof *count);
    int *target = malloc(SELECT_BUCKETS * sizeof *target);
    size_t *tb = malloc(nr * sizeof *tb), *tstart = malloc(nr * sizeof *tstart);
    size_t *tlen = malloc(nr * sizeof *tlen), *fill = malloc(nr * sizeof *fill);
    size_t *rank_bucket = malloc(nr * sizeof *rank_bucket), *local = malloc(nr * sizeof *local);
    double *buf = NULL;
    int rc = -1;
    if (!count || !target || !tb || !tstart || !tlen || !fill || !rank_bucket || !local) goto done;
    if (absdev) /* two loops so neither tests absdev per element */
        for (size_t i = 0; i < n; i++) count[bucket_of(fabs(x[i] - centre), lo, scale)]++;
    else
        for (size_t i = 0; i < n; i++) count[bucket_of(x[i], lo, scale)]++;
    /* the bucket of each rank, and the distinct target buckets in order */
    size_t nt = 0, below = 0, b = 0;
    for (size_t i = 0; i < nr; i++) {
        while (below + count[b] <= ranks[i]) below += count[b++];
        rank_bucket[i] = b;
        if (nt == 0 || tb[nt - 1] != b) {
            tb[nt] = b;
            tstart[nt] = below; /* rank of the bucket's first element */
            nt++;
        }
    }
    for (size_t k = 0; k < SELECT_BUCKETS; k++) target[k] = -1;
    size_t total = 0;
    for (size_t t = 0; t < nt; t++) {
        target[tb[t]] = (int)t;
        tlen[t] = count[tb[t]];
        fill[t] = total;
        total += tlen[t];
    }
    buf = malloc((total ? total : 1) * sizeof *buf);
    if (!buf) goto done;
    for (size_t i = 0; i < n; i++) {
        double v = transformed(x, i, centre, absdev);
        int t = target[bucket_of(v, lo, scale)];
        if (t >= 0) buf[fill[t]++] = v;
    }
    rc = 0;
    for (size_t t = 0, i = 0; t < nt && rc == 0; t++) {
        double *seg = buf + fill[t] - tlen[t];
        double mn = seg[0], mx = seg[0];
        for (size_t j = 1; j < tlen[t]; j++) {
            mn = seg[j] < mn ? seg[j] : mn;
            mx = seg[j] > mx ? seg[j] : mx;
        }
        size_t first = i;
        while (i < nr && rank_bucket[i] == tb[t]) i++;
        for (size_t j = first; j < i; j++) local[j] = ranks[j] - tstart[t];
        rc = select_ranks(seg, tlen[t], 0, 0, mn, mx, local + first, i - first, out + first,
                          depth + 1);
    }
done:
    free(count), free(target), free(tb), free(tstart), free(tlen), free(fill), free(rank_bucket);
    free(local);
    free(buf);
    return rc;
}

/* The order statistics p[0..cnt) need (floor(h) and the one above), sorted and unique. */
static size_t collect_ranks(size_t n, const double *p, size_t cnt, size_t *ranks)
{
    size_t nr = 0;
    for (size_t i = 0; i < cnt; i++) {
        double h = (double)(n - 1) * (p[i] / 100.0);
        size_t r = h <= 0 ? 0 : h >= (double)(n - 1) ? n - 1 : (size_t)floor(h);
        ranks[nr++] = r;
        if (r + 1 < n) ranks[nr++] = r + 1;
    }
    qsort(ranks, nr, sizeof *ranks, cmp_size);
    size_t u = 0;
    for (size_t i = 0; i < nr; i++)
        if (u == 0 || ranks[u - 1] != ranks[i]) ranks[u++] = ranks[i];
    return u;
}

int hb__percentiles_range(const double *x, size_t n, double centre, int absdev, double lo,
                          double hi, const double *p, size_t np, double *out)
{
    size_t ranks[MAX_PCT_BATCH];
    double vals[MAX_PCT_BATCH];
    for (size_t start = 0; start < np; start += MAX_PCT_BATCH / 2) {
        size_t cnt = np - start < MAX_PCT_BATCH / 2 ? np - start : MAX_PCT_BATCH / 2;
        size_t u = collect_ranks(n, p + start, cnt, ranks);
        if (select_ranks(x, n, centre, absdev, lo, hi, ranks, u, vals, 0)) return -1;
        for (size_t i = 0; i < cnt; i++) {
            double h = (double)(n - 1) * (p[start + i] / 100.0);
            size_t r = h <= 0 ? 0 : h >= (double)(n - 1) ? n - 1 : (size_t)floor(h);
            size_t k = 0;
            while (ranks[k] != r) k++;
            double t = h - (double)r;
            out[start + i] = (t <= 0 || r + 1 >= n) ? vals[k] : hb__lerp(vals[k], vals[k + 1], t);
        }
    }
    return 0;
}
