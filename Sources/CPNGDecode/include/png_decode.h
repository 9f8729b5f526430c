#ifndef TNT_PNG_DECODE_H
#define TNT_PNG_DECODE_H

#include <stddef.h>
#include <stdint.h>

// Decodes a PNG held in memory to 8-bit RGB the way OpenCV's imdecode(IMREAD_COLOR) does:
// 16-bit samples keep their high byte, alpha is dropped without compositing, gray and
// palette images are expanded to three channels, no gamma correction.
//
// The header is read first; an image wider or taller than max_side or with more than
// max_pixels pixels is refused before any pixel memory is allocated. libpng reports errors
// by longjmp; this function owns the setjmp, so callers (Swift) only see return codes.
//
// Returns 0 and sets *rgb (free with free()), *width, *height; or a nonzero code with a
// message in error (at most error_size bytes, NUL-terminated).
enum {
    TNT_PNG_OK = 0,
    TNT_PNG_NOT_PNG = 1,
    TNT_PNG_TOO_LARGE = 2,
    TNT_PNG_CORRUPT = 3,
    TNT_PNG_NO_MEMORY = 4,
};

int tnt_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels, uint32_t max_side,
                   uint8_t **rgb, uint32_t *width, uint32_t *height,
                   char *error, size_t error_size);

#endif
