/*
 * test_image.c: PNG and JPEG reading and writing (image.h; src/data/png.c,
 * jpeg.c, image.c).
 *
 * Round trips: PNG RGB, gray and palette through sg_png_write, plus files
 * written here with libpng directly for the kinds sg_png_write does not make
 * (RGBA, 16-bit gray, 4-bit palette, gray+alpha, interlaced) - each read both
 * as an image and, where legal, as a mask. JPEG RGB and gray within a
 * tolerance. Bad input: truncated and corrupt PNG and JPEG, a text file, an
 * empty file, a missing file, and PNGs of the wrong kind (RGB, 16-bit) or a
 * JPEG read as a mask; each must fail with the path in the message and print
 * nothing on stderr.
 */
#include "semiseg.h"
#include "semiseg/image.h"
#include "tap.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* A deterministic test picture: smooth gradients plus sharp luminance edges
 * (every fifth 16x16 block inverted), so JPEG error is small but not zero. */
static void make_picture(sg_image *img, int h, int w, int c)
{
    sg_image_alloc(img, h, w, c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) {
                int v = x * 180 / w + y * 60 / h + ch * 5;
                if ((x / 16 + y / 16) % 5 == 0) v = 255 - v;
                img->data[((size_t)y * w + x) * c + ch] = (uint8_t)v;
            }
}

static int same_bytes(const sg_image *a, const sg_image *b)
{
    return a->h == b->h && a->w == b->w && a->c == b->c &&
           memcmp(a->data, b->data, (size_t)a->h * a->w * a->c) == 0;
}

/* Writes a PNG with libpng directly: any colour type and bit depth; rows are
 * packed as libpng expects for that format. */
static int trns_entries; /* > 0: write_png_raw adds a tRNS chunk */

static void write_png_raw(const char *path, int w, int h, int color, int depth, int interlace,
                          const uint8_t *packed, size_t rowbytes, const png_color *pal, int npal)
{
    FILE *fp = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (pal && trns_entries > 0) {
        png_byte alpha[256];
        memset(alpha, 0, sizeof alpha);
        png_set_tRNS(png, info, alpha, trns_entries, NULL);
    }
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < h; y++) png_write_row(png, packed + (size_t)y * rowbytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(fp);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void copy_prefix(const char *src, const char *dst, long n)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    for (long i = 0; i < n; i++) {
        int ch = fgetc(in);
        if (ch == EOF) break;
        fputc(ch, out);
    }
    fclose(in);
    fclose(out);
}

static void poke(const char *path, long off, const uint8_t *bytes, size_t n)
{
    FILE *fp = fopen(path, "r+b");
    fseek(fp, off, SEEK_SET);
    fwrite(bytes, 1, n, fp);
    fclose(fp);
}

/* Offset of the first occurrence of a 2-byte marker (JPEG) or -1. */
static long find_bytes(const char *path, const uint8_t *pat, size_t n)
{
    FILE *fp = fopen(path, "rb");
    long sz = file_size(path);
    uint8_t *buf = malloc((size_t)sz);
    size_t got = fread(buf, 1, (size_t)sz, fp);
    fclose(fp);
    long at = -1;
    for (size_t i = 0; i + n <= got && at < 0; i++)
        if (memcmp(buf + i, pat, n) == 0) at = (long)i;
    free(buf);
    return at;
}

/* stderr goes to a file during the bad-input checks: libjpeg and libpng must
 * not print anything. */
static int saved_stderr = -1;
static char stderr_path[512];
static void stderr_capture(void)
{
    fflush(stderr);
    saved_stderr = dup(2);
    snprintf(stderr_path, sizeof stderr_path, "%s", tmp_path("stderr.txt"));
    if (!freopen(stderr_path, "w", stderr)) tap_diag("cannot capture stderr");
}
static long stderr_release(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    return file_size(stderr_path);
}

/* A read that must fail: -1, and the message names the path and contains
 * `what`. */
static void expect_fail(int rc, const sg_err *err, const char *path, const char *what, const char *name)
{
    int ok = rc == -1 && strstr(err->msg, path) && strstr(err->msg, what);
    tap_ok(ok, "%s fails naming the file", name);
    if (!ok) tap_diag("rc %d, message: %s", rc, err->msg);
}

static void test_png_kinds(void)
{
    sg_err err;
    sg_image rgb, back, gray;
    make_picture(&rgb, 37, 53, 3);
    const char *p = tmp_path("rgb.png");
    tap_ok(sg_png_write(p, &rgb, NULL, &err) == 0, "write RGB PNG");
    tap_ok(sg_image_read(p, &back, &err) == 0 && same_bytes(&rgb, &back), "RGB PNG round trip exact");
    sg_image_free(&back);
    expect_fail(sg_mask_read(p, &back, &err), &err, p, "RGB", "RGB PNG read as a mask");

    /* Gray: as a mask the values, as an image R = G = B = value. */
    make_picture(&gray, 20, 30, 1);
    p = tmp_path("gray.png");
    tap_ok(sg_png_write(p, &gray, NULL, &err) == 0, "write gray PNG");
    tap_ok(sg_mask_read(p, &back, &err) == 0 && same_bytes(&gray, &back), "gray PNG mask exact");
    sg_image_free(&back);
    int ok = sg_image_read(p, &back, &err) == 0 && back.c == 3 && back.h == 20 && back.w == 30;
    for (int i = 0; ok && i < 20 * 30; i++)
        ok = back.data[3 * i] == gray.data[i] && back.data[3 * i + 1] == gray.data[i] &&
             back.data[3 * i + 2] == gray.data[i];
    tap_ok(ok, "gray PNG as RGB replicates the value");
    sg_image_free(&back);

    /* Palette: indices as a mask (255 included), colours as an image. */
    uint8_t pal[768];
    for (int i = 0; i < 256; i++) {
        pal[3 * i] = (uint8_t)i;
        pal[3 * i + 1] = (uint8_t)(255 - i);
        pal[3 * i + 2] = (uint8_t)(i * 7);
    }
    sg_image idx;
    sg_image_alloc(&idx, 9, 11, 1);
    for (int i = 0; i < 99; i++) idx.data[i] = (uint8_t)(i % 22 == 21 ? 255 : i % 22);
    p = tmp_path("pal.png");
    tap_ok(sg_png_write(p, &idx, pal, &err) == 0, "write palette PNG");
    tap_ok(sg_mask_read(p, &back, &err) == 0 && same_bytes(&idx, &back), "palette PNG mask gives indices");
    sg_image_free(&back);
    ok = sg_image_read(p, &back, &err) == 0 && back.c == 3;
    for (int i = 0; ok && i < 99; i++) ok = memcmp(back.data + 3 * i, pal + 3 * idx.data[i], 3) == 0;
    tap_ok(ok, "palette PNG as RGB gives the palette colours");
    sg_image_free(&back);

    /* RGBA: alpha dropped, colour kept (Pillow convert('RGB')). */
    uint8_t *rgba = malloc((size_t)37 * 53 * 4);
    for (int i = 0; i < 37 * 53; i++) {
        memcpy(rgba + 4 * i, rgb.data + 3 * i, 3);
        rgba[4 * i + 3] = (uint8_t)(i * 5);
    }
    p = tmp_path("rgba.png");
    write_png_raw(p, 53, 37, PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_NONE, rgba, 53 * 4, NULL, 0);
    tap_ok(sg_image_read(p, &back, &err) == 0 && same_bytes(&rgb, &back), "RGBA PNG: alpha dropped");
    sg_image_free(&back);
    expect_fail(sg_mask_read(p, &back, &err), &err, p, "RGBA", "RGBA PNG read as a mask");
    free(rgba);

    /* Interlaced RGB: same pixels as the plain file. */
    p = tmp_path("adam7.png");
    write_png_raw(p, 53, 37, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, rgb.data, 53 * 3, NULL, 0);
    tap_ok(sg_image_read(p, &back, &err) == 0 && same_bytes(&rgb, &back), "interlaced PNG read");
    sg_image_free(&back);

    /* 16-bit gray: the high byte as an image; refused as a mask. */
    uint8_t g16[6 * 4 * 2];
    for (int i = 0; i < 24; i++) {
        g16[2 * i] = (uint8_t)(i * 10);
        g16[2 * i + 1] = (uint8_t)(255 - i);
    }
    p = tmp_path("gray16.png");
    write_png_raw(p, 6, 4, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, g16, 12, NULL, 0);
    ok = sg_image_read(p, &back, &err) == 0 && back.h == 4 && back.w == 6;
    for (int i = 0; ok && i < 24; i++) ok = back.data[3 * i] == i * 10 && back.data[3 * i + 2] == i * 10;
    tap_ok(ok, "16-bit gray PNG as RGB keeps the high byte");
    sg_image_free(&back);
    expect_fail(sg_mask_read(p, &back, &err), &err, p, "16-bit", "16-bit PNG read as a mask");

    /* 4-bit palette: indices unpacked to one byte each. */
    png_color pal16[16];
    for (int i = 0; i < 16; i++) pal16[i] = (png_color){(png_byte)(i * 16), 0, (png_byte)(255 - i * 16)};
    uint8_t packed[3 * 4]; /* 3 rows x 7 pixels, 2 per byte, last nibble padding */
    sg_image want;
    sg_image_alloc(&want, 3, 7, 1);
    memset(packed, 0, sizeof packed);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 7; x++) {
            int v = (y * 7 + x) % 16;
            want.data[y * 7 + x] = (uint8_t)v;
            packed[y * 4 + x / 2] |= (uint8_t)(x % 2 ? v : v << 4);
        }
    p = tmp_path("pal4.png");
    write_png_raw(p, 7, 3, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, packed, 4, pal16, 16);
    tap_ok(sg_mask_read(p, &back, &err) == 0 && same_bytes(&want, &back), "4-bit palette mask");
    sg_image_free(&back);
    ok = sg_image_read(p, &back, &err) == 0;
    for (int i = 0; ok && i < 21; i++)
        ok = back.data[3 * i] == pal16[want.data[i]].red && back.data[3 * i + 2] == pal16[want.data[i]].blue;
    tap_ok(ok, "4-bit palette as RGB");
    sg_image_free(&back);
    /* With transparency (tRNS) the colours are kept, as Pillow's convert. */
    p = tmp_path("pal4_trns.png");
    trns_entries = 16;
    write_png_raw(p, 7, 3, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, packed, 4, pal16, 16);
    trns_entries = 0;
    ok = sg_image_read(p, &back, &err) == 0;
    for (int i = 0; ok && i < 21; i++)
        ok = back.data[3 * i] == pal16[want.data[i]].red && back.data[3 * i + 2] == pal16[want.data[i]].blue;
    tap_ok(ok, "palette with tRNS as RGB");
    sg_image_free(&back);
    tap_ok(sg_mask_read(p, &back, &err) == 0 && same_bytes(&want, &back), "palette with tRNS as a mask");
    sg_image_free(&back);
    sg_image_free(&want);

    /* Gray + alpha: gray replicated, alpha dropped. */
    uint8_t ga[5 * 2 * 2];
    for (int i = 0; i < 10; i++) {
        ga[2 * i] = (uint8_t)(i * 20);
        ga[2 * i + 1] = 7;
    }
    p = tmp_path("ga.png");
    write_png_raw(p, 5, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, ga, 10, NULL, 0);
    ok = sg_image_read(p, &back, &err) == 0 && back.c == 3;
    for (int i = 0; ok && i < 10; i++) ok = back.data[3 * i] == i * 20 && back.data[3 * i + 1] == i * 20;
    tap_ok(ok, "gray+alpha PNG as RGB");
    sg_image_free(&back);

    /* PNG content under a .jpg name (the demo set may do this). */
    p = tmp_path("png_named.jpg");
    sg_png_write(p, &rgb, NULL, &err);
    tap_ok(sg_image_read(p, &back, &err) == 0 && same_bytes(&rgb, &back), "format chosen by content");
    sg_image_free(&back);

    sg_image_free(&rgb);
    sg_image_free(&gray);
    sg_image_free(&idx);
}

static void jpeg_error(const sg_image *a, const sg_image *b, double *mean, int *max)
{
    size_t n = (size_t)a->h * a->w * a->c;
    double sum = 0;
    *max = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a->data[i] - (int)b->data[i]);
        sum += d;
        if (d > *max) *max = d;
    }
    *mean = sum / (double)n;
}

static void test_jpeg(void)
{
    sg_err err;
    sg_image rgb, back;
    make_picture(&rgb, 48, 64, 3);
    const char *p = tmp_path("rgb.jpg");
    tap_ok(sg_jpeg_write(p, &rgb, 95, &err) == 0, "write RGB JPEG");
    double mean;
    int max;
    int rc = sg_image_read(p, &back, &err);
    tap_ok(rc == 0 && back.h == 48 && back.w == 64 && back.c == 3, "read RGB JPEG");
    jpeg_error(&rgb, &back, &mean, &max);
    /* Quality 95 with 4:2:0 chroma: measured mean 0.48, max 6 (at the sharp
     * block edges). The bounds leave 2x room and still fail for swapped
     * channels (which differ by 10 here) or a gray-padded decode. */
    tap_ok(mean < 1.0 && max < 12, "RGB JPEG round trip within tolerance (mean %.2f, max %d)", mean, max);
    sg_image_free(&back);

    sg_image gray;
    make_picture(&gray, 40, 24, 1);
    p = tmp_path("gray.jpg");
    tap_ok(sg_jpeg_write(p, &gray, 90, &err) == 0, "write gray JPEG");
    rc = sg_image_read(p, &back, &err);
    int ok = rc == 0 && back.c == 3 && back.h == 40 && back.w == 24;
    sg_image g0 = {0};
    if (ok) {
        sg_image_alloc(&g0, 40, 24, 1);
        for (int i = 0; i < 40 * 24; i++) {
            g0.data[i] = back.data[3 * i];
            ok = ok && back.data[3 * i] == back.data[3 * i + 1] && back.data[3 * i] == back.data[3 * i + 2];
        }
        jpeg_error(&gray, &g0, &mean, &max);
        sg_image_free(&g0);
    }
    /* Quality 90, no chroma: measured mean 0.42, max 1; 2x room (max 1 is
     * the quantisation floor, so allow 3). */
    tap_ok(ok && mean < 1.0 && max <= 3, "gray JPEG read as R = G = B within tolerance (mean %.2f, max %d)",
           mean, max);
    sg_image_free(&back);
    sg_image_free(&gray);
    sg_image_free(&rgb);
}

static void test_bad_files(void)
{
    sg_err err;
    sg_image img, back;
    make_picture(&img, 48, 64, 3);
    char jpg[512], png[512];
    snprintf(jpg, sizeof jpg, "%s", tmp_path("good.jpg"));
    snprintf(png, sizeof png, "%s", tmp_path("good.png"));
    sg_jpeg_write(jpg, &img, 90, &err);
    sg_png_write(png, &img, NULL, &err);

    stderr_capture();

    /* Truncated JPEG: libjpeg would pad with gray and warn; here an error. */
    const char *p = tmp_path("trunc.jpg");
    copy_prefix(jpg, p, file_size(jpg) / 2);
    expect_fail(sg_image_read(p, &back, &err), &err, p, "JPEG", "truncated JPEG");
    /* Cut inside the header: no frame at all. */
    p = tmp_path("trunc_header.jpg");
    copy_prefix(jpg, p, 40);
    expect_fail(sg_image_read(p, &back, &err), &err, p, "JPEG", "JPEG cut in its header");
    /* Corrupt frame header: height 0 in SOF0 (FF C0, len 2 bytes, precision). */
    p = tmp_path("sof0.jpg");
    copy_prefix(jpg, p, file_size(jpg));
    long sof = find_bytes(p, (const uint8_t[]){0xff, 0xc0}, 2);
    poke(p, sof + 5, (const uint8_t[]){0, 0}, 2);
    expect_fail(sg_image_read(p, &back, &err), &err, p, "JPEG", "JPEG with a zero-height frame");
    /* Corrupt Huffman table: all code counts zeroed makes every code invalid. */
    p = tmp_path("dht.jpg");
    copy_prefix(jpg, p, file_size(jpg));
    long dht = find_bytes(p, (const uint8_t[]){0xff, 0xc4}, 2);
    uint8_t junk[16];
    memset(junk, 0xff, sizeof junk);
    poke(p, dht + 5, junk, sizeof junk);
    expect_fail(sg_image_read(p, &back, &err), &err, p, "JPEG", "JPEG with a corrupt Huffman table");
    /* JPEG as a mask. */
    expect_fail(sg_mask_read(jpg, &back, &err), &err, jpg, "JPEG", "JPEG read as a mask");

    /* Truncated PNG: cut inside IDAT, and right after the signature. */
    p = tmp_path("trunc.png");
    copy_prefix(png, p, file_size(png) / 2);
    expect_fail(sg_image_read(p, &back, &err), &err, p, "truncated PNG", "truncated PNG");
    /* A palette mask cut inside IDAT. */
    sg_image m;
    make_picture(&m, 48, 64, 1);
    uint8_t pal[768] = {0};
    char mpng[512];
    snprintf(mpng, sizeof mpng, "%s", tmp_path("mask.png"));
    sg_png_write(mpng, &m, pal, &err);
    sg_image_free(&m);
    p = tmp_path("trunc_mask.png");
    copy_prefix(mpng, p, file_size(mpng) - 30);
    expect_fail(sg_mask_read(p, &back, &err), &err, p, "truncated PNG", "truncated palette PNG as a mask");
    p = tmp_path("trunc_sig.png");
    copy_prefix(png, p, 12);
    expect_fail(sg_image_read(p, &back, &err), &err, p, "PNG", "PNG cut after its signature");
    /* Corrupt PNG: a byte inside IDAT changed, so its CRC fails. */
    p = tmp_path("crc.png");
    copy_prefix(png, p, file_size(png));
    long idat = find_bytes(p, (const uint8_t[]){'I', 'D', 'A', 'T'}, 4);
    poke(p, idat + 20, (const uint8_t[]){0x5a, 0xa5}, 2);
    expect_fail(sg_image_read(p, &back, &err), &err, p, "corrupt PNG", "PNG with a bad IDAT CRC");

    /* Neither format, empty, missing. */
    p = tmp_path("text.png");
    FILE *fp = fopen(p, "w");
    fputs("not an image at all\n", fp);
    fclose(fp);
    expect_fail(sg_image_read(p, &back, &err), &err, p, "neither", "text file as an image");
    expect_fail(sg_mask_read(p, &back, &err), &err, p, "not a PNG", "text file as a mask");
    p = tmp_path("empty.png");
    fclose(fopen(p, "w"));
    expect_fail(sg_image_read(p, &back, &err), &err, p, "empty", "empty file");
    p = tmp_path("missing.png");
    expect_fail(sg_image_read(p, &back, &err), &err, p, "cannot open", "missing file");

    long printed = stderr_release();
    tap_ok(printed == 0, "the codecs printed nothing on stderr (%ld bytes)", printed);
    sg_image_free(&img);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/semiseg-image.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) tap_skip_all("cannot create a temp dir");
    test_png_kinds();
    test_jpeg();
    test_bad_files();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) tap_diag("could not remove %s", dir);
    return tap_done();
}
