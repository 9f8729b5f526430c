#include "png_decode.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
    const uint8_t *data;
    size_t size, offset;
    char *error;
    size_t error_size;
};

static void read_bytes(png_structp png, png_bytep out, png_size_t count) {
    struct reader *r = png_get_io_ptr(png);
    if (count > r->size - r->offset) png_error(png, "data ends before the image does (truncated)");
    memcpy(out, r->data + r->offset, count);
    r->offset += count;
}

static void on_error(png_structp png, png_const_charp message) {
    struct reader *r = png_get_error_ptr(png);
    snprintf(r->error, r->error_size, "%s", message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

int tnt_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels, uint32_t max_side,
                   uint8_t **rgb, uint32_t *width, uint32_t *height,
                   char *error, size_t error_size) {
    *rgb = NULL;
    if (error_size) error[0] = 0;
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(error, error_size, "not a PNG signature");
        return TNT_PNG_NOT_PNG;
    }
    struct reader r = {data, size, 0, error, error_size};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
    if (!png) return TNT_PNG_NO_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return TNT_PNG_NO_MEMORY;
    }
    // Everything that must survive a longjmp is volatile or lives outside this frame.
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    volatile int code = TNT_PNG_CORRUPT;

    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        free(pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return code;
    }
    png_set_read_fn(png, &r, read_bytes);
    png_set_user_limits(png, max_side, max_side);
    png_set_chunk_malloc_max(png, 8u << 20);
    // Text chunks do not change pixels; skipped unread, they cannot cost memory or time
    // (a zTXt/iTXt is a compressed stream of any declared size).
    static const png_byte text_chunks[] = "tEXt\0zTXt\0iTXt\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, text_chunks, 3);
    png_read_info(png, info);

    png_uint_32 w, h;
    int bit_depth, color_type;
    png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, NULL, NULL, NULL);
    if ((uint64_t)w * h > max_pixels) {
        snprintf(error, error_size, "image of %ux%u pixels is above the limit of %llu pixels",
                 (unsigned)w, (unsigned)h, (unsigned long long)max_pixels);
        code = TNT_PNG_TOO_LARGE;
        png_longjmp(png, 1);
    }
    // The transforms of OpenCV's PngDecoder::readData for an 8-bit, 3-channel result.
    if (bit_depth == 16) png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0 && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) {
        snprintf(error, error_size, "unexpected row layout after conversion to RGB");
        png_longjmp(png, 1);
    }

    pixels = malloc((size_t)w * h * 3);
    rows = malloc(sizeof(png_bytep) * h);
    if (!pixels || !rows) {
        snprintf(error, error_size, "out of memory for %ux%u pixels", (unsigned)w, (unsigned)h);
        code = TNT_PNG_NO_MEMORY;
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pixels + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *rgb = pixels;
    *width = w;
    *height = h;
    return TNT_PNG_OK;
}
