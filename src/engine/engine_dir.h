/* engine_dir.h - writing engine manifests and opening the weights they name (internal). */
#ifndef HB_ENGINE_DIR_H
#define HB_ENGINE_DIR_H

#include "higgsbench/engine.h"

/* Writes DIR/engine.json; weight paths are written as given (relative to DIR or absolute). */
hb_status hb_engine_write_manifest(const char *dir, const hb_engine_manifest *m, hb_error *err);

/* Opens the weights of a manifest read by hb_engine_read_dir (paths already resolved): one
 * .index.json (sharded checkpoint) or a list of .safetensors files. */
hb_status hb_engine_open_weights(const hb_engine_manifest *m, hb_safetensors *st, hb_error *err);

#endif
