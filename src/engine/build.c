/* build.c - `build-engine`: engine directories from an HF checkpoint or a size preset. */
#include "higgsbench/build.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_dir.h"

hb_build_opts hb_build_defaults(void)
{
    return (hb_build_opts){.seed = 1,
                           .dtype = HB_DT_BF16,
                           .topology = HB_BUILD_UNIFIED,
                           .max_batch = 8,
                           .max_seq_len = 2048,
                           .threads = 0};
}

static inline uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float hb_random_weight(uint64_t seed, uint32_t tensor, uint64_t i, float mean, float std)
{
    uint64_t z = mix(seed * 0x9e3779b97f4a7c15ull + ((uint64_t)tensor << 40) + i);
    double u = (double)(z >> 11) * 0x1.0p-53; /* [0, 1) */
    return (float)(mean + (2 * u - 1) * 1.7320508075688772 * std); /* uniform, sd = std */
}

/* ---------------------------------------------------------------------- directories ---- */

static hb_status make_dir(const char *path, hb_error *err)
{
    if (mkdir(path, 0755) == 0) return HB_OK;
    if (errno == EEXIST) {
        DIR *d = opendir(path);
        if (!d) return hb_fail(err, HB_ERR_IO, "'%s' exists and is not a directory", path);
        struct dirent *de;
        bool empty = true;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) empty = false;
        closedir(d);
        if (!empty)
            return hb_fail(err, HB_ERR_IO, "'%s' already exists and is not empty; nothing was "
                           "overwritten (choose another --output)", path);
        return HB_OK;
    }
    return hb_fail(err, HB_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
}

/* ------------------------------------------------------------------- preset weights ---- */

typedef struct {
    uint64_t seed;
    uint32_t tensor;
    float mean, std;
    uint64_t base;
    float *buf;
    size_t lo, hi;
} gen_job;

static void *gen_run(void *arg)
{
    gen_job *j = arg;
    for (size_t i = j->lo; i < j->hi; i++)
        j->buf[i] = hb_random_weight(j->seed, j->tensor, j->base + i, j->mean, j->std);
    return NULL;
}

static hb_status write_preset_weights(const char *path, const hb_model_config *c, uint64_t seed,
                                      hb_dtype dt, int threads, hb_error *err)
{
    size_t nt = hb_model_tensors(c, NULL);
    hb_tensor_spec *s = malloc(nt * sizeof *s);
    if (!s) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    hb_model_tensors(c, s);
    hb_st_writer *w = NULL;
    hb_status rc = hb_st_writer_open(path, &w, err);
    for (size_t i = 0; i < nt && !rc; i++)
        rc = hb_st_writer_declare(w, s[i].name, dt, s[i].ndim, s[i].shape, err);
    enum { CHUNK = 1 << 22 };
    float *buf = malloc(CHUNK * sizeof *buf);
    void *out = malloc(CHUNK * 4);
    if (!rc && (!buf || !out)) rc = hb_fail(err, HB_ERR_NOMEM, "out of memory");
    if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    for (size_t i = 0; i < nt && !rc; i++) {
        uint64_t n = (uint64_t)s[i].shape[0] * (uint64_t)(s[i].ndim == 2 ? s[i].shape[1] : 1);
        for (uint64_t base = 0; base < n && !rc; base += CHUNK) {
            size_t m = (size_t)(n - base < CHUNK ? n - base : CHUNK);
            pthread_t th[64];
            gen_job jobs[64];
            int used = m < 65536 ? 1 : threads;
            for (int t = 0; t < used; t++) {
                jobs[t] = (gen_job){seed, (uint32_t)i, s[i].init_mean, s[i].init_std, base, buf,
                                    m * (size_t)t / (size_t)used, m * (size_t)(t + 1) / (size_t)used};
                if (used == 1 || pthread_create(&th[t], NULL, gen_run, &jobs[t])) {
                    gen_run(&jobs[t]);
                    th[t] = 0;
                }
            }
            for (int t = 0; t < used; t++)
                if (used > 1 && th[t]) pthread_join(th[t], NULL);
            hb_convert_from_f32(dt, buf, out, m);
            rc = hb_st_writer_data(w, out, m * hb_dtype_size(dt), err);
        }
    }
    free(buf);
    free(out);
    free(s);
    if (w) {
        hb_status rc2 = hb_st_writer_close(w, rc ? NULL : err);
        if (!rc) rc = rc2;
    }
    return rc;
}

/* ----------------------------------------------------------------------- checkpoints ---- */

/* Finds the checkpoint's weights: the index if there is one, else every *.safetensors file. */
static hb_status checkpoint_weights(const char *dir, hb_engine_manifest *m, hb_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        m->nweights = 1;
        snprintf(m->weights[0], sizeof m->weights[0], "%s", path);
        return HB_OK;
    }
    DIR *d = opendir(dir);
    if (!d) return hb_fail(err, HB_ERR_IO, "checkpoint '%s': %s", dir, strerror(errno));
    struct dirent *de;
    m->nweights = 0;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n > 12 && strcmp(de->d_name + n - 12, ".safetensors") == 0) {
            if (m->nweights == 16) {
                closedir(d);
                return hb_fail(err, HB_ERR_UNSUPPORTED, "checkpoint '%s' has more than 16 "
                               "safetensors files and no index", dir);
            }
            snprintf(m->weights[m->nweights++], sizeof m->weights[0], "%s/%s", dir, de->d_name);
        }
    }
    closedir(d);
    if (m->nweights == 0)
        return hb_fail(err, HB_ERR_IO, "checkpoint '%s' has no model.safetensors.index.json and no "
                       ".safetensors files", dir);
    return HB_OK;
}

/* Checks that the checkpoint holds every tensor the config implies, with the right shape. */
static hb_status check_checkpoint(const hb_engine_manifest *m, const hb_model_config *c,
                                  const char *dir, hb_dtype *dtype, hb_error *err)
{
    hb_safetensors st;
    hb_status rc = hb_engine_open_weights(m, &st, err);
    if (rc) return rc;
    size_t nt = hb_model_tensors(c, NULL);
    hb_tensor_spec *s = malloc(nt * sizeof *s);
    if (!s) {
        hb_st_close(&st);
        return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    }
    hb_model_tensors(c, s);
    for (size_t i = 0; i < nt && !rc; i++) {
        const hb_st_tensor *t = hb_st_find(&st, s[i].name);
        if (!t) {
            rc = hb_fail(err, HB_ERR_MISMATCH, "checkpoint '%s' lacks tensor '%s'", dir, s[i].name);
            break;
        }
        bool ok = t->ndim == s[i].ndim && t->shape[0] == s[i].shape[0] &&
                  (s[i].ndim == 1 || t->shape[1] == s[i].shape[1]);
        if (!ok)
            rc = hb_fail(err, HB_ERR_MISMATCH, "checkpoint '%s': tensor '%s' does not have the "
                         "shape its config.json implies ([%lld, %lld])", dir, s[i].name,
                         (long long)s[i].shape[0], (long long)(s[i].ndim == 2 ? s[i].shape[1] : 0));
        if (i == 0) *dtype = t->dtype;
    }
    free(s);
    hb_st_close(&st);
    return rc;
}

/* ------------------------------------------------------------------------ engines ---- */

static hb_status write_engine(const char *dir, const hb_model_config *c, hb_engine_manifest *m,
                              hb_role role, bool made, hb_error *err)
{
    hb_status rc = made ? HB_OK : make_dir(dir, err); /* made: the output directory itself */
    if (rc) return rc;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/config.json", dir);
    rc = hb_config_save(c, path, err);
    m->role = role;
    if (!rc) rc = hb_engine_write_manifest(dir, m, err);
    return rc;
}

hb_status hb_build_engines(const hb_build_opts *o, hb_error *err)
{
    if (!o->out || !*o->out) return hb_fail(err, HB_ERR_INVALID, "no output directory given");
    if (o->use_preset == (o->checkpoint != NULL))
        return hb_fail(err, HB_ERR_INVALID, "give exactly one of a preset and a checkpoint");
    if (o->max_batch < 1 || o->max_batch > 4096)
        return hb_fail(err, HB_ERR_INVALID, "max batch %d is outside [1, 4096]", o->max_batch);
    hb_model_config c;
    hb_engine_manifest m;
    memset(&m, 0, sizeof m);
    hb_status rc;
    if (o->use_preset) {
        c = hb_preset_config(o->preset);
        m.dtype = o->dtype;
        snprintf(m.preset, sizeof m.preset, "%s", hb_preset_name(o->preset));
        m.seed = o->seed;
        snprintf(m.source, sizeof m.source, "preset");
    } else {
        char cfgpath[PATH_MAX], real[PATH_MAX];
        if (!realpath(o->checkpoint, real))
            return hb_fail(err, HB_ERR_IO, "checkpoint '%s': %s", o->checkpoint, strerror(errno));
        snprintf(cfgpath, sizeof cfgpath, "%s/config.json", real);
        rc = hb_config_load(cfgpath, &c, err);
        if (!rc) rc = checkpoint_weights(real, &m, err);
        if (!rc) rc = check_checkpoint(&m, &c, real, &m.dtype, err);
        if (rc) return rc;
        snprintf(m.source, sizeof m.source, "%s", real);
    }
    if (o->max_seq_len < 16 || o->max_seq_len > c.max_position)
        return hb_fail(err, HB_ERR_INVALID, "max sequence length %d is outside [16, %d] "
                       "(max_position_embeddings)", o->max_seq_len, c.max_position);
    m.max_batch = o->max_batch;
    m.max_seq_len = o->max_seq_len;
    rc = make_dir(o->out, err);
    if (rc) return rc;
    char path[PATH_MAX];
    bool nested = o->topology != HB_BUILD_UNIFIED;
    if (o->use_preset) {
        snprintf(path, sizeof path, "%s/weights", o->out);
        rc = make_dir(path, err);
        snprintf(path, sizeof path, "%s/weights/model.safetensors", o->out);
        if (!rc) rc = write_preset_weights(path, &c, o->seed, o->dtype, o->threads, err);
        m.nweights = 1;
        snprintf(m.weights[0], sizeof m.weights[0], "%s", nested ? "../weights/model.safetensors"
                                                                 : "weights/model.safetensors");
    }
    if (!rc && o->topology == HB_BUILD_UNIFIED)
        rc = write_engine(o->out, &c, &m, HB_ROLE_UNIFIED, true, err);
    if (!rc && o->topology == HB_BUILD_BOTH) {
        snprintf(path, sizeof path, "%s/unified", o->out);
        rc = write_engine(path, &c, &m, HB_ROLE_UNIFIED, false, err);
    }
    if (!rc && nested) {
        snprintf(path, sizeof path, "%s/text", o->out);
        rc = write_engine(path, &c, &m, HB_ROLE_TEXT, false, err);
        snprintf(path, sizeof path, "%s/audio", o->out);
        if (!rc) rc = write_engine(path, &c, &m, HB_ROLE_AUDIO, false, err);
    }
    return rc;
}
