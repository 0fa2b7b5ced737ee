/* safetensors.c - validated, memory-mapped safetensors reading and a streaming writer.
 *
 * The parser is a fuzz target (tests/fuzz/fuzz_safetensors.c): whatever the header says, no
 * tensor may point outside the mapping.
 */
#include "higgsbench/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const dt_names[HB_DT__COUNT] = {"F32", "F16", "BF16"};
static const char *const dt_lower[HB_DT__COUNT] = {"f32", "f16", "bf16"};
static const size_t dt_sizes[HB_DT__COUNT] = {4, 2, 2};

const char *hb_dtype_name(hb_dtype d) { return (unsigned)d < HB_DT__COUNT ? dt_names[d] : "?"; }
const char *hb_dtype_lower(hb_dtype d) { return (unsigned)d < HB_DT__COUNT ? dt_lower[d] : "?"; }
size_t hb_dtype_size(hb_dtype d) { return (unsigned)d < HB_DT__COUNT ? dt_sizes[d] : 0; }

bool hb_dtype_parse(const char *s, hb_dtype *out)
{
    for (int d = 0; d < HB_DT__COUNT; d++)
        if (strcmp(s, dt_names[d]) == 0 || strcmp(s, dt_lower[d]) == 0) {
            *out = (hb_dtype)d;
            return true;
        }
    return false;
}

/* ------------------------------------------------------------------------- conversion ---- */

static inline float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static inline uint16_t f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    int32_t exp = (int32_t)((u >> 23) & 0xff) - 127 + 15;
    uint32_t man = u & 0x7fffff;
    if (((u >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = 1u << (shift - 1), rest = man & ((1u << shift) - 1);
        uint32_t h = man >> shift;
        if (rest > half || (rest == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = sign | ((uint32_t)exp << 10) | (man >> 13), rest = man & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return (uint16_t)h;
}

/* Tensor data need not be aligned (the format does not promise it), so halves are read with
 * memcpy, which compiles to a plain load where alignment allows. */
static inline uint16_t load_u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

void hb_convert_to_f32(hb_dtype dt, const void *src, float *dst, size_t n)
{
    const unsigned char *h = src;
    switch (dt) {
    case HB_DT_F32: memcpy(dst, src, n * 4); break;
    case HB_DT_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(load_u16(h + 2 * i));
        break;
    case HB_DT_F16:
        for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(load_u16(h + 2 * i));
        break;
    default: break;
    }
}

void hb_convert_from_f32(hb_dtype dt, const float *src, void *dst, size_t n)
{
    uint16_t *h = dst;
    switch (dt) {
    case HB_DT_F32: memcpy(dst, src, n * 4); break;
    case HB_DT_BF16:
        for (size_t i = 0; i < n; i++) h[i] = f32_to_bf16(src[i]);
        break;
    case HB_DT_F16:
        for (size_t i = 0; i < n; i++) h[i] = f32_to_f16(src[i]);
        break;
    default: break;
    }
}

/* ---------------------------------------------------------------------------- reading ---- */

typedef struct {
    size_t begin, end, index;
} range;

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Parses the header of one file mapped at buf into st (appending tensors, file index fi). */
static hb_status parse_one(const unsigned char *buf, size_t size, const char *name, int fi,
                           hb_safetensors *st, hb_error *err)
{
    if (size < 8)
        return hb_fail(err, HB_ERR_PARSE, "%s: %zu bytes is too short for a safetensors file",
                       name, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > size - 8)
        return hb_fail(err, HB_ERR_PARSE,
                       "%s: header length %llu runs past the end of the file (%zu bytes): "
                       "truncated or not a safetensors file",
                       name, (unsigned long long)hlen, size);
    if (hlen > 100u * 1024 * 1024)
        return hb_fail(err, HB_ERR_PARSE, "%s: header length %llu is implausibly large", name,
                       (unsigned long long)hlen);
    json_error_t je;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) return hb_fail(err, HB_ERR_PARSE, "%s: header is not valid JSON: %s", name, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return hb_fail(err, HB_ERR_PARSE, "%s: header is not a JSON object", name);
    }
    size_t data_size = size - 8 - (size_t)hlen;
    const unsigned char *data = buf + 8 + hlen;
    size_t count = json_object_size(root);
    hb_st_tensor *nt = realloc(st->tensors, (st->ntensors + count + 1) * sizeof *nt);
    range *ranges = malloc((count + 1) * sizeof *ranges);
    if (!nt || !ranges) {
        if (nt) st->tensors = nt;
        free(ranges);
        json_decref(root);
        return hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
    }
    st->tensors = nt;
    size_t nr = 0;
    hb_status rc = HB_OK;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "__metadata__") == 0) continue;
        hb_st_tensor t = {0};
        const char *dts = json_string_value(json_object_get(val, "dtype"));
        const json_t *shape = json_object_get(val, "shape"), *offs = json_object_get(val, "data_offsets");
        if (!json_is_object(val) || !dts || !json_is_array(shape) || !json_is_array(offs) ||
            json_array_size(offs) != 2) {
            rc = hb_fail(err, HB_ERR_PARSE, "%s: tensor '%s': entry needs dtype, shape and "
                         "data_offsets [begin, end]", name, key);
            break;
        }
        if (!hb_dtype_parse(dts, &t.dtype) || strcmp(dts, dt_names[t.dtype]) != 0) {
            rc = hb_fail(err, HB_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported "
                         "(F32, F16, BF16)", name, key, dts);
            break;
        }
        size_t nd = json_array_size(shape);
        if (nd > HB_ST_MAX_DIMS) {
            rc = hb_fail(err, HB_ERR_PARSE, "%s: tensor '%s': %zu dimensions", name, key, nd);
            break;
        }
        uint64_t elems = 1;
        bool ok = true;
        for (size_t d = 0; d < nd && ok; d++) {
            const json_t *e = json_array_get(shape, d);
            json_int_t v = json_integer_value(e);
            ok = json_is_integer(e) && v >= 0 && (uint64_t)v < (1ull << 40);
            t.shape[d] = v;
            if (ok && v && elems > (1ull << 50) / (uint64_t)v) ok = false;
            elems *= ok ? (uint64_t)v : 1;
        }
        const json_t *b0 = json_array_get(offs, 0), *b1 = json_array_get(offs, 1);
        json_int_t begin = json_integer_value(b0), end = json_integer_value(b1);
        if (!ok || !json_is_integer(b0) || !json_is_integer(b1) || begin < 0 || end < begin) {
            rc = hb_fail(err, HB_ERR_PARSE, "%s: tensor '%s': bad shape or data_offsets", name,
                         key);
            break;
        }
        t.ndim = (int)nd;
        uint64_t want = elems * dt_sizes[t.dtype];
        if ((uint64_t)(end - begin) != want) {
            rc = hb_fail(err, HB_ERR_PARSE, "%s: tensor '%s': data_offsets span %lld bytes but "
                         "shape x %s needs %llu", name, key, (long long)(end - begin), dts,
                         (unsigned long long)want);
            break;
        }
        if ((uint64_t)end > data_size) {
            rc = hb_fail(err, HB_ERR_PARSE, "%s: tensor '%s': data ends at byte %lld of a %zu-byte "
                         "data section: the file is truncated", name, key, (long long)end,
                         data_size);
            break;
        }
        t.name = strdup(key);
        if (!t.name) {
            rc = hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
            break;
        }
        t.data = data + begin;
        t.nbytes = (size_t)want;
        t.file = fi;
        ranges[nr++] = (range){(size_t)begin, (size_t)end, st->ntensors};
        st->tensors[st->ntensors++] = t;
    }
    if (!rc) {
        qsort(ranges, nr, sizeof *ranges, cmp_range);
        for (size_t i = 1; i < nr && !rc; i++)
            if (ranges[i].begin < ranges[i - 1].end && ranges[i].end > ranges[i].begin &&
                ranges[i - 1].end > ranges[i - 1].begin)
                rc = hb_fail(err, HB_ERR_PARSE, "%s: tensors '%s' and '%s' overlap", name,
                             st->tensors[ranges[i - 1].index].name,
                             st->tensors[ranges[i].index].name);
    }
    free(ranges);
    json_decref(root);
    return rc;
}

hb_status hb_st_parse(const void *buf, size_t file_size, const char *name, hb_safetensors *st,
                      hb_error *err)
{
    memset(st, 0, sizeof *st);
    hb_status rc = parse_one(buf, file_size, name, 0, st, err);
    if (rc) hb_st_close(st);
    return rc;
}

static hb_status map_file(const char *path, void **map, size_t *size, hb_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return hb_fail(err, HB_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return hb_fail(err, HB_ERR_IO, "'%s' is not a regular file", path);
    }
    *size = (size_t)sb.st_size;
    *map = NULL;
    if (*size) {
        void *m = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            return hb_fail(err, HB_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
        }
        *map = m;
    }
    close(fd);
    return HB_OK;
}

hb_status hb_st_open_files(const char *const *paths, int n, hb_safetensors *st, hb_error *err)
{
    memset(st, 0, sizeof *st);
    st->paths = calloc((size_t)n, sizeof *st->paths);
    st->maps = calloc((size_t)n, sizeof *st->maps);
    st->map_sizes = calloc((size_t)n, sizeof *st->map_sizes);
    if (!st->paths || !st->maps || !st->map_sizes) {
        hb_st_close(st);
        return hb_fail(err, HB_ERR_NOMEM, "out of memory opening %d files", n);
    }
    hb_status rc = HB_OK;
    for (int i = 0; i < n && !rc; i++) {
        st->nfiles = i + 1;
        st->paths[i] = strdup(paths[i]);
        if (!st->paths[i]) rc = hb_fail(err, HB_ERR_NOMEM, "out of memory");
        if (!rc) rc = map_file(paths[i], &st->maps[i], &st->map_sizes[i], err);
        if (!rc) rc = parse_one(st->maps[i], st->map_sizes[i], paths[i], i, st, err);
    }
    /* names must be unique across files */
    for (size_t i = 0; !rc && i < st->ntensors; i++)
        for (size_t j = i + 1; !rc && j < st->ntensors && n > 1; j++)
            if (strcmp(st->tensors[i].name, st->tensors[j].name) == 0)
                rc = hb_fail(err, HB_ERR_PARSE, "tensor '%s' appears in both '%s' and '%s'",
                             st->tensors[i].name, st->paths[st->tensors[i].file],
                             st->paths[st->tensors[j].file]);
    if (rc) hb_st_close(st);
    return rc;
}

hb_status hb_st_open(const char *path, hb_safetensors *st, hb_error *err)
{
    return hb_st_open_files(&path, 1, st, err);
}

hb_status hb_st_open_index(const char *index_path, hb_safetensors *st, hb_error *err)
{
    memset(st, 0, sizeof *st);
    json_error_t je;
    json_t *root = json_load_file(index_path, 0, &je);
    if (!root)
        return hb_fail(err, HB_ERR_PARSE, "%s: %s", index_path,
                       je.line < 0 ? "cannot be read" : je.text);
    const json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) {
        json_decref(root);
        return hb_fail(err, HB_ERR_PARSE, "%s: no \"weight_map\" object", index_path);
    }
    char *dircopy = strdup(index_path);
    const char *dir = dircopy ? dirname(dircopy) : ".";
    char **files = NULL;
    int nf = 0;
    hb_status rc = HB_OK;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)wm, key, val)
    {
        const char *f = json_string_value(val);
        if (!f || strchr(f, '/')) {
            rc = hb_fail(err, HB_ERR_PARSE, "%s: weight_map['%s'] is not a file name in the "
                         "same folder", index_path, key);
            break;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, f);
        int k = 0;
        while (k < nf && strcmp(files[k], path) != 0) k++;
        if (k == nf) {
            char **nfp = realloc(files, (size_t)(nf + 1) * sizeof *files);
            if (!nfp || !(nfp[nf] = strdup(path))) {
                if (nfp) files = nfp;
                rc = hb_fail(err, HB_ERR_NOMEM, "out of memory");
                break;
            }
            files = nfp;
            nf++;
        }
    }
    if (!rc && nf == 0) rc = hb_fail(err, HB_ERR_PARSE, "%s: weight_map is empty", index_path);
    if (!rc) rc = hb_st_open_files((const char *const *)files, nf, st, err);
    /* every tensor the index lists must be in the shard it names */
    json_object_foreach((json_t *)wm, key, val)
    {
        if (rc) break;
        const hb_st_tensor *t = hb_st_find(st, key);
        const char *f = json_string_value(val);
        if (!t)
            rc = hb_fail(err, HB_ERR_PARSE, "%s lists tensor '%s' (in %s) but no shard holds it",
                         index_path, key, f);
        else {
            const char *base = strrchr(st->paths[t->file], '/');
            if (strcmp(base ? base + 1 : st->paths[t->file], f) != 0)
                rc = hb_fail(err, HB_ERR_PARSE, "%s: tensor '%s' is in %s, not %s as listed",
                             index_path, key, st->paths[t->file], f);
        }
    }
    if (rc) hb_st_close(st);
    for (int i = 0; i < nf; i++) free(files[i]);
    free(files);
    free(dircopy);
    json_decref(root);
    return rc;
}

const hb_st_tensor *hb_st_find(const hb_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->ntensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

void hb_st_close(hb_safetensors *st)
{
    for (size_t i = 0; i < st->ntensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->nfiles; i++) {
        if (st->maps && st->maps[i]) munmap(st->maps[i], st->map_sizes[i]);
        if (st->paths) free(st->paths[i]);
    }
    free(st->paths);
    free(st->maps);
    free(st->map_sizes);
    memset(st, 0, sizeof *st);
}

/* ---------------------------------------------------------------------------- writing ---- */

struct hb_st_writer {
    FILE *f;
    char *path;
    json_t *header;
    uint64_t next_offset, total, written;
    bool header_done;
};

hb_status hb_st_writer_open(const char *path, hb_st_writer **out, hb_error *err)
{
    hb_st_writer *w = calloc(1, sizeof *w);
    if (!w) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    w->f = fopen(path, "wb");
    if (!w->f) {
        free(w);
        return hb_fail(err, HB_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    }
    w->path = strdup(path);
    w->header = json_object();
    *out = w;
    return HB_OK;
}

hb_status hb_st_writer_declare(hb_st_writer *w, const char *name, hb_dtype dt, int ndim,
                               const int64_t *shape, hb_error *err)
{
    if (w->header_done) return hb_fail(err, HB_ERR_INTERNAL, "declare after data in %s", w->path);
    json_t *sh = json_array();
    uint64_t elems = 1;
    for (int d = 0; d < ndim; d++) {
        json_array_append_new(sh, json_integer(shape[d]));
        elems *= (uint64_t)shape[d];
    }
    uint64_t bytes = elems * hb_dtype_size(dt);
    json_object_set_new(w->header, name,
                        json_pack("{s:s, s:o, s:[I, I]}", "dtype", hb_dtype_name(dt), "shape", sh,
                                  "data_offsets", (json_int_t)w->next_offset,
                                  (json_int_t)(w->next_offset + bytes)));
    w->next_offset += bytes;
    return HB_OK;
}

hb_status hb_st_writer_data(hb_st_writer *w, const void *data, size_t nbytes, hb_error *err)
{
    if (!w->header_done) {
        json_object_set_new(w->header, "__metadata__", json_pack("{s:s}", "format", "pt"));
        char *h = json_dumps(w->header, JSON_COMPACT);
        if (!h) return hb_fail(err, HB_ERR_NOMEM, "cannot serialise the header of %s", w->path);
        size_t len = strlen(h), padded = (len + 7) / 8 * 8; /* data starts 8-byte aligned */
        unsigned char lenbuf[8];
        for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
        bool ok = fwrite(lenbuf, 1, 8, w->f) == 8 && fwrite(h, 1, len, w->f) == len;
        for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', w->f) != EOF;
        free(h);
        if (!ok) return hb_fail(err, HB_ERR_IO, "cannot write '%s': %s", w->path, strerror(errno));
        w->header_done = true;
        w->total = w->next_offset;
    }
    if (w->written + nbytes > w->total)
        return hb_fail(err, HB_ERR_INTERNAL, "%s: more data than declared", w->path);
    if (nbytes && fwrite(data, 1, nbytes, w->f) != nbytes)
        return hb_fail(err, HB_ERR_IO, "cannot write '%s': %s", w->path, strerror(errno));
    w->written += nbytes;
    return HB_OK;
}

hb_status hb_st_writer_close(hb_st_writer *w, hb_error *err)
{
    hb_status rc = HB_OK;
    if (!w->header_done) rc = hb_st_writer_data(w, NULL, 0, err);
    if (!rc && w->written != w->total)
        rc = hb_fail(err, HB_ERR_INTERNAL, "%s: %llu of %llu data bytes written", w->path,
                     (unsigned long long)w->written, (unsigned long long)w->total);
    if (fclose(w->f) && !rc)
        rc = hb_fail(err, HB_ERR_IO, "cannot write '%s': %s", w->path, strerror(errno));
    json_decref(w->header);
    free(w->path);
    free(w);
    return rc;
}
