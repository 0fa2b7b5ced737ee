/* engine_dir.c - engine directories: engine.json (the manifest) beside config.json, and the
 * weight files they name (see docs/ENGINE_FORMAT.md). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine_dir.h"

hb_status hb_engine_read_dir(const char *dir, hb_engine_manifest *m, hb_model_config *cfg,
                             hb_error *err)
{
    memset(m, 0, sizeof *m);
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return hb_fail(err, HB_ERR_IO, "engine directory '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return hb_fail(err, HB_ERR_INVALID, "engine directory '%s' is not a directory", dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/engine.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        if (stat(path, &sb) != 0)
            return hb_fail(err, HB_ERR_IO,
                           "'%s' is not an engine directory: no engine.json (build one with "
                           "'higgs-bench build-engine')", dir);
        return hb_fail(err, HB_ERR_PARSE, "%s:%d: %s", path, je.line, je.text);
    }
    hb_status rc = HB_OK;
    const char *fmt = json_string_value(json_object_get(root, "format"));
    const char *role = json_string_value(json_object_get(root, "role"));
    const char *dtype = json_string_value(json_object_get(root, "dtype"));
    const json_t *w = json_object_get(root, "weights");
    json_int_t mb = json_integer_value(json_object_get(root, "max_batch"));
    json_int_t ms = json_integer_value(json_object_get(root, "max_seq_len"));
    if (!fmt || strcmp(fmt, "higgs-bench/engine") != 0)
        rc = hb_fail(err, HB_ERR_PARSE, "%s: \"format\" is not \"higgs-bench/engine\"", path);
    else if (json_integer_value(json_object_get(root, "version")) != 1)
        rc = hb_fail(err, HB_ERR_UNSUPPORTED, "%s: engine format version is not 1", path);
    else if (!role || !hb_role_parse(role, &m->role))
        rc = hb_fail(err, HB_ERR_PARSE, "%s: \"role\" must be unified, text or audio", path);
    else if (!dtype || !hb_dtype_parse(dtype, &m->dtype))
        rc = hb_fail(err, HB_ERR_PARSE, "%s: \"dtype\" must be f32, f16 or bf16", path);
    else if (mb < 1 || mb > 4096 || ms < 16 || ms > 1 << 22)
        rc = hb_fail(err, HB_ERR_PARSE, "%s: max_batch %lld / max_seq_len %lld out of range", path,
                     (long long)mb, (long long)ms);
    else if (!json_is_array(w) || json_array_size(w) == 0 || json_array_size(w) > 16)
        rc = hb_fail(err, HB_ERR_PARSE, "%s: \"weights\" must list 1 to 16 files", path);
    if (!rc) {
        m->max_batch = (int)mb;
        m->max_seq_len = (int)ms;
        m->nweights = (int)json_array_size(w);
        for (int i = 0; i < m->nweights && !rc; i++) {
            const char *f = json_string_value(json_array_get(w, (size_t)i));
            if (!f || !*f) {
                rc = hb_fail(err, HB_ERR_PARSE, "%s: weights[%d] is not a file name", path, i);
                break;
            }
            if (f[0] == '/')
                snprintf(m->weights[i], sizeof m->weights[i], "%s", f);
            else
                snprintf(m->weights[i], sizeof m->weights[i], "%s/%s", dir, f);
        }
        const char *preset = json_string_value(json_object_get(root, "preset"));
        snprintf(m->preset, sizeof m->preset, "%s", preset ? preset : "");
        m->seed = (uint64_t)json_integer_value(json_object_get(root, "seed"));
        const char *src = json_string_value(json_object_get(root, "source"));
        snprintf(m->source, sizeof m->source, "%s", src ? src : "");
    }
    json_decref(root);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/config.json", dir);
    return hb_config_load(path, cfg, err);
}

hb_status hb_engine_write_manifest(const char *dir, const hb_engine_manifest *m, hb_error *err)
{
    json_t *w = json_array();
    for (int i = 0; i < m->nweights; i++) json_array_append_new(w, json_string(m->weights[i]));
    json_t *root = json_pack("{s:s, s:i, s:s, s:s, s:i, s:i, s:o, s:s}", "format",
                             "higgs-bench/engine", "version", 1, "role", hb_role_name(m->role),
                             "dtype", hb_dtype_lower(m->dtype), "max_batch", m->max_batch,
                             "max_seq_len", m->max_seq_len, "weights", w, "source", m->source);
    if (m->preset[0]) {
        json_object_set_new(root, "preset", json_string(m->preset));
        json_object_set_new(root, "seed", json_integer((json_int_t)m->seed));
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/engine.json", dir);
    int rc = json_dump_file(root, path, JSON_INDENT(2));
    json_decref(root);
    if (rc) return hb_fail(err, HB_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    return HB_OK;
}

hb_status hb_engine_open_weights(const hb_engine_manifest *m, hb_safetensors *st, hb_error *err)
{
    if (m->nweights == 1) {
        const char *f = m->weights[0];
        size_t n = strlen(f);
        if (n > 11 && strcmp(f + n - 11, ".index.json") == 0) return hb_st_open_index(f, st, err);
    }
    const char *paths[16];
    for (int i = 0; i < m->nweights; i++) paths[i] = m->weights[i];
    return hb_st_open_files(paths, m->nweights, st, err);
}
