/* safetensors.h - reading (mmap) and writing the safetensors format, single files and sharded
 * checkpoints with a model.safetensors.index.json.
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the byte after the
 * header), an optional "__metadata__" object, then the data. Opening validates everything: the
 * header length against the file size, the JSON, every dtype, that each tensor's byte range is
 * exactly shape x dtype size, lies inside the file and overlaps no other. Errors name the file,
 * the tensor and what is wrong.
 */
#ifndef HIGGSBENCH_SAFETENSORS_H
#define HIGGSBENCH_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "higgsbench/error.h"

typedef enum { HB_DT_F32 = 0, HB_DT_F16, HB_DT_BF16, HB_DT__COUNT } hb_dtype;

const char *hb_dtype_name(hb_dtype d); /* "F32", "F16", "BF16" (safetensors spelling) */
const char *hb_dtype_lower(hb_dtype d); /* "f32", "f16", "bf16" (engine.json spelling) */
bool hb_dtype_parse(const char *s, hb_dtype *out); /* either spelling */
size_t hb_dtype_size(hb_dtype d);

#define HB_ST_MAX_DIMS 8

typedef struct {
    char *name;
    hb_dtype dtype;
    int ndim;
    int64_t shape[HB_ST_MAX_DIMS];
    const void *data;   /* into the mapping */
    size_t nbytes;
    int file;           /* index of the file it lives in */
} hb_st_tensor;

typedef struct {
    int nfiles;
    char **paths;
    void **maps;
    size_t *map_sizes;
    hb_st_tensor *tensors;
    size_t ntensors;
} hb_safetensors;

/* Opens one .safetensors file. */
hb_status hb_st_open(const char *path, hb_safetensors *st, hb_error *err);

/* Opens several files as one set (tensor names must be unique across them). */
hb_status hb_st_open_files(const char *const *paths, int n, hb_safetensors *st, hb_error *err);

/* Opens a sharded checkpoint from its index (model.safetensors.index.json): every shard the
 * weight_map names, and checks each listed tensor is in the shard the index says. */
hb_status hb_st_open_index(const char *index_path, hb_safetensors *st, hb_error *err);

/* Parses a header from memory (for the fuzz target and tests): file_size is the whole file. */
hb_status hb_st_parse(const void *buf, size_t file_size, const char *name, hb_safetensors *st,
                      hb_error *err);

const hb_st_tensor *hb_st_find(const hb_safetensors *st, const char *name);

void hb_st_close(hb_safetensors *st);

/* Converts n elements of dtype to float. */
void hb_convert_to_f32(hb_dtype dt, const void *src, float *dst, size_t n);
/* float -> dtype (round to nearest even for BF16/F16). */
void hb_convert_from_f32(hb_dtype dt, const float *src, void *dst, size_t n);

/* Streaming writer: declare every tensor first, then write their data in declaration order. */
typedef struct hb_st_writer hb_st_writer;
hb_status hb_st_writer_open(const char *path, hb_st_writer **w, hb_error *err);
hb_status hb_st_writer_declare(hb_st_writer *w, const char *name, hb_dtype dt, int ndim,
                               const int64_t *shape, hb_error *err);
/* Writes the header (after all declarations) and then data chunks, in order. */
hb_status hb_st_writer_data(hb_st_writer *w, const void *data, size_t nbytes, hb_error *err);
hb_status hb_st_writer_close(hb_st_writer *w, hb_error *err);

#endif
