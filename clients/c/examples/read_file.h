/* Reads a whole file into a malloc'd buffer (NULL on failure); shared by the example and the tests. */
#ifndef TNT_EXAMPLES_READ_FILE_H
#define TNT_EXAMPLES_READ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long length = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(length > 0 ? (size_t)length : 1);
    *size = data ? fread(data, 1, (size_t)length, f) : 0;
    fclose(f);
    return data;
}

#endif
