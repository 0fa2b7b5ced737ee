/* fs.h - file-system helpers shared by the library and the bench programs (internal). */
#ifndef HB_COMMON_FS_H
#define HB_COMMON_FS_H

#include <sys/types.h>

/* mkdir -p: dir and every missing directory above it (mode as for mkdir(2)); 0, or -1 with errno
 * set (ENOTDIR where a part exists and is not a directory, ENAMETOOLONG past PATH_MAX) */
int hb_make_dirs(const char *dir, mode_t mode);

#endif
