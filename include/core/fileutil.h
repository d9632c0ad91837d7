#ifndef PARLEY_FILEUTIL_H
#define PARLEY_FILEUTIL_H
#include <stddef.h>

/* Reads a whole file; returns a NUL-terminated buffer the caller frees, and
 * its length (the file may itself contain NULs), or NULL with errno set. */
char *file_read(const char *path, size_t *len);

#endif
