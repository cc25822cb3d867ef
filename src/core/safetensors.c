/*
 * safetensors.c: reading and writing the safetensors format (checkpoint.h).
 *
 * Layout (huggingface/safetensors, as safetensors.torch.save_file writes it):
 * u64 little-endian header length N; N bytes of UTF-8 JSON mapping each name
 * to {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
 * "__metadata__" object of strings; then the data buffer, offsets relative
 * to its start. The file is read whole and validated before any tensor is
 * handed out, with the checks of the reference implementation: the header
 * fits the file, every offset range lies in the buffer, end - begin equals
 * numel * dtype size (numel overflow-checked), the ranges tile the buffer
 * without overlap or gap, names are unique (jansson's
 * JSON_REJECT_DUPLICATES) and dtypes known. Unknown fields are rejected too:
 * the official writer emits none, so one means a damaged or foreign file.
 *
 * Writing sorts names, pads the header with spaces to a multiple of 8 (so
 * the buffer, and every F32/I64 tensor in it, is 8-byte aligned when mapped)
 * and goes through io.h's atomic replacement.
 *
 * Covered by tests/test_checkpoint.c.
 */
#include "semiseg/checkpoint.h"
#include "semiseg/io.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c reads and writes little-endian data in place: port the byte swaps first"
#endif

static const struct {
    const char *name;
    sg_st_dtype dt;
    size_t size;
} sg_st_dtypes_[] = {
    {"F32", SG_ST_F32, 4}, {"F16", SG_ST_F16, 2}, {"BF16", SG_ST_BF16, 2},
    {"I64", SG_ST_I64, 8}, {"I32", SG_ST_I32, 4},
};
#define SG_ST_N_DTYPES (int)(sizeof sg_st_dtypes_ / sizeof sg_st_dtypes_[0])

const char *sg_st_dtype_name(sg_st_dtype dt)
{
    for (int i = 0; i < SG_ST_N_DTYPES; i++)
        if (sg_st_dtypes_[i].dt == dt) return sg_st_dtypes_[i].name;
    SG_CHECK(0, "sg_st_dtype_name: unknown dtype %d", (int)dt);
}

static size_t sg_st_dtype_size_(sg_st_dtype dt)
{
    for (int i = 0; i < SG_ST_N_DTYPES; i++)
        if (sg_st_dtypes_[i].dt == dt) return sg_st_dtypes_[i].size;
    SG_CHECK(0, "sg_st_dtype_size_: unknown dtype %d", (int)dt);
}

/* ---- reading ----------------------------------------------------------------- */

void sg_st_close(sg_st_file *f)
{
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->bytes);
    memset(f, 0, sizeof *f);
}

static int sg_st_read_all_(sg_st_file *f, const char *path, sg_err *err)
{
    FILE *fp = sg_fopen_read(path, err);
    if (!fp) return -1;
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return sg_err_set(err, "%s: not a regular file", path);
    }
    f->size = (size_t)st.st_size;
    f->bytes = malloc(f->size ? f->size : 1);
    if (!f->bytes) {
        fclose(fp);
        return sg_err_set(err, "%s: out of memory reading %zu bytes", path, f->size);
    }
    size_t got = fread(f->bytes, 1, f->size, fp);
    int failed = ferror(fp);
    fclose(fp);
    if (failed || got != f->size)
        return sg_err_set(err, "%s: read %zu of %zu bytes", path, got, f->size);
    return 0;
}

static int sg_st_parse_meta_(sg_st_file *f, json_t *meta, sg_err *err)
{
    if (!json_is_object(meta)) return sg_err_set(err, "%s: \"__metadata__\" is not an object", f->path);
    size_t n = json_object_size(meta);
    f->meta_keys = sg_xcalloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_values = sg_xcalloc(n ? n : 1, sizeof *f->meta_values);
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) {
        if (!json_is_string(val))
            return sg_err_set(err, "%s: metadata \"%s\" is not a string", f->path, key);
        f->meta_keys[f->n_meta] = strdup(key);
        f->meta_values[f->n_meta] = strdup(json_string_value(val));
        SG_CHECK(f->meta_keys[f->n_meta] && f->meta_values[f->n_meta], "sg_st_open: out of memory");
        f->n_meta++;
    }
    return 0;
}

/* One header entry -> t (name already set); offsets index buf[0, buf_size). */
static int sg_st_parse_entry_(const sg_st_file *f, sg_st_tensor *t, json_t *info, const unsigned char *buf,
                              size_t buf_size, sg_err *err)
{
    const char *p = f->path, *nm = t->name;
    if (!json_is_object(info)) return sg_err_set(err, "%s: tensor \"%s\": entry is not an object", p, nm);
    const char *key;
    json_t *val;
    json_object_foreach(info, key, val) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return sg_err_set(err, "%s: tensor \"%s\": unknown field \"%s\"", p, nm, key);
    }
    json_t *jdt = json_object_get(info, "dtype"), *jshape = json_object_get(info, "shape"),
           *joff = json_object_get(info, "data_offsets");
    if (!json_is_string(jdt)) return sg_err_set(err, "%s: tensor \"%s\": missing or non-string dtype", p, nm);
    int d = 0;
    while (d < SG_ST_N_DTYPES && strcmp(sg_st_dtypes_[d].name, json_string_value(jdt))) d++;
    if (d == SG_ST_N_DTYPES)
        return sg_err_set(err, "%s: tensor \"%s\": unsupported dtype \"%s\" (F32, F16, BF16, I64, I32 are read)",
                          p, nm, json_string_value(jdt));
    t->dtype = sg_st_dtypes_[d].dt;

    if (!json_is_array(jshape)) return sg_err_set(err, "%s: tensor \"%s\": missing or non-array shape", p, nm);
    if (json_array_size(jshape) > SG_ST_MAX_DIMS)
        return sg_err_set(err, "%s: tensor \"%s\": %zu dimensions (at most %d)", p, nm,
                          json_array_size(jshape), SG_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(jshape);
    size_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *dim = json_array_get(jshape, (size_t)i);
        if (!json_is_integer(dim) || json_integer_value(dim) < 0)
            return sg_err_set(err, "%s: tensor \"%s\": shape entry %d is not a non-negative integer", p, nm, i);
        t->shape[i] = (int64_t)json_integer_value(dim);
        if ((uint64_t)t->shape[i] > SIZE_MAX || __builtin_mul_overflow(numel, (size_t)t->shape[i], &numel))
            return sg_err_set(err, "%s: tensor \"%s\": element count overflows", p, nm);
    }
    t->numel = numel;
    size_t esize = sg_st_dtype_size_(t->dtype), nbytes;
    if (__builtin_mul_overflow(numel, esize, &nbytes))
        return sg_err_set(err, "%s: tensor \"%s\": byte size overflows", p, nm);

    if (!json_is_array(joff) || json_array_size(joff) != 2 || !json_is_integer(json_array_get(joff, 0)) ||
        !json_is_integer(json_array_get(joff, 1)))
        return sg_err_set(err, "%s: tensor \"%s\": data_offsets is not [begin, end]", p, nm);
    json_int_t b = json_integer_value(json_array_get(joff, 0)), e = json_integer_value(json_array_get(joff, 1));
    if (b < 0 || e < b || (uint64_t)e > buf_size)
        return sg_err_set(err, "%s: tensor \"%s\": data_offsets [%lld, %lld] outside the %zu-byte data buffer",
                          p, nm, (long long)b, (long long)e, buf_size);
    if ((uint64_t)(e - b) != nbytes)
        return sg_err_set(err, "%s: tensor \"%s\": data_offsets [%lld, %lld] hold %lld bytes, %s shape needs %zu",
                          p, nm, (long long)b, (long long)e, (long long)(e - b), sg_st_dtype_name(t->dtype),
                          nbytes);
    t->nbytes = nbytes;
    t->data = buf + b;
    return 0;
}

static int sg_st_cmp_offset_(const void *a, const void *b)
{
    const sg_st_tensor *x = *(const sg_st_tensor *const *)a, *y = *(const sg_st_tensor *const *)b;
    if (x->data != y->data) return x->data < y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int sg_st_cmp_name_(const void *a, const void *b)
{
    return strcmp(((const sg_st_tensor *)a)->name, ((const sg_st_tensor *)b)->name);
}

/* The ranges must tile [buf, buf + buf_size): sorted by begin, each starts
 * where the previous ended (empty tensors may sit anywhere on a boundary). */
static int sg_st_check_tiling_(const sg_st_file *f, const unsigned char *buf, size_t buf_size, sg_err *err)
{
    if (f->n_tensors == 0) {
        if (buf_size) return sg_err_set(err, "%s: %zu data bytes but no tensors", f->path, buf_size);
        return 0;
    }
    const sg_st_tensor **order = sg_xmalloc((size_t)f->n_tensors * sizeof *order);
    for (int i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, sg_st_cmp_offset_);
    const unsigned char *pos = buf;
    const sg_st_tensor *prev = NULL;
    int rc = 0;
    for (int i = 0; i < f->n_tensors && rc == 0; i++) {
        const sg_st_tensor *t = order[i];
        if (t->data < pos)
            rc = sg_err_set(err, "%s: tensor \"%s\": data [%td, %td] overlaps tensor \"%s\" [%td, %td]", f->path,
                            t->name, t->data - buf, t->data + t->nbytes - buf, prev->name, prev->data - buf,
                            prev->data + prev->nbytes - buf);
        else if (t->data > pos)
            rc = sg_err_set(err, "%s: tensor \"%s\": data begins at %td, leaving a gap of %td unused bytes",
                            f->path, t->name, t->data - buf, t->data - pos);
        else if (t->nbytes) {
            pos = t->data + t->nbytes;
            prev = t;
        }
    }
    if (rc == 0 && pos != buf + buf_size)
        rc = sg_err_set(err, "%s: %td bytes after the last tensor \"%s\" belong to no tensor", f->path,
                        buf + buf_size - pos, prev ? prev->name : order[f->n_tensors - 1]->name);
    free(order);
    return rc;
}

static int sg_st_parse_(sg_st_file *f, sg_err *err)
{
    const char *p = f->path;
    if (f->size < 8) return sg_err_set(err, "%s: %zu bytes, too short for a safetensors header", p, f->size);
    uint64_t n;
    memcpy(&n, f->bytes, 8);
    if (n > f->size - 8)
        return sg_err_set(err, "%s: header length %llu exceeds the %zu bytes after it (truncated or not safetensors)",
                          p, (unsigned long long)n, f->size - 8);
    if (n < 2) return sg_err_set(err, "%s: header length %llu is too short for a JSON object", p,
                                 (unsigned long long)n);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)f->bytes + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return sg_err_set(err, "%s: invalid header JSON at byte %d: %s", p, jerr.position, jerr.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = sg_err_set(err, "%s: header JSON is not an object", p);
        goto out;
    }
    size_t buf_size = f->size - 8 - (size_t)n;
    size_t cap = json_object_size(root);
    f->tensors = sg_xcalloc(cap ? cap : 1, sizeof *f->tensors);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((rc = sg_st_parse_meta_(f, val, err))) goto out;
            continue;
        }
        if (!key[0]) {
            rc = sg_err_set(err, "%s: a tensor has an empty name", p);
            goto out;
        }
        sg_st_tensor *t = &f->tensors[f->n_tensors];
        t->name = strdup(key);
        SG_CHECK(t->name, "sg_st_open: out of memory");
        f->n_tensors++;
        if ((rc = sg_st_parse_entry_(f, t, val, f->bytes + 8 + n, buf_size, err))) goto out;
    }
    if ((rc = sg_st_check_tiling_(f, f->bytes + 8 + n, buf_size, err))) goto out;
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, sg_st_cmp_name_);
out:
    json_decref(root);
    return rc;
}

int sg_st_open(sg_st_file *f, const char *path, sg_err *err)
{
    memset(f, 0, sizeof *f);
    if (strlen(path) >= sizeof f->path) return sg_err_set(err, "%s: path too long", path);
    strcpy(f->path, path);
    if (sg_st_read_all_(f, path, err) || sg_st_parse_(f, err)) {
        sg_st_close(f);
        return -1;
    }
    return 0;
}

const sg_st_tensor *sg_st_find(const sg_st_file *f, const char *name)
{
    if (f->n_tensors == 0) return NULL;
    sg_st_tensor key = {.name = (char *)name};
    return bsearch(&key, f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, sg_st_cmp_name_);
}

const char *sg_st_meta(const sg_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

/* IEEE binary16 -> binary32, exact (subnormals, infinities and NaN kept). */
static float sg_half_to_float_(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        /* Subnormal: shift the mantissa up until its leading 1 is implicit. */
        exp = 113;
        while (!(man & 0x400u)) {
            man <<= 1;
            exp--;
        }
        bits = sign | (exp << 23) | ((man & 0x3ffu) << 13);
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

int sg_st_read_f32(const sg_st_file *f, const sg_st_tensor *t, float *out, sg_err *err)
{
    const unsigned char *src = t->data;
    switch (t->dtype) {
    case SG_ST_F32:
        memcpy(out, src, t->nbytes);
        return 0;
    case SG_ST_F16:
    case SG_ST_BF16:
        for (size_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            if (t->dtype == SG_ST_F16) {
                out[i] = sg_half_to_float_(h);
            } else {
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&out[i], &bits, 4);
            }
        }
        return 0;
    default:
        return sg_err_set(err, "%s: tensor \"%s\": dtype %s where a floating-point tensor is expected", f->path,
                          t->name, sg_st_dtype_name(t->dtype));
    }
}

int sg_st_read_i64(const sg_st_file *f, const sg_st_tensor *t, int64_t *out, sg_err *err)
{
    if (t->dtype == SG_ST_I64) {
        memcpy(out, t->data, t->nbytes);
        return 0;
    }
    if (t->dtype == SG_ST_I32) {
        for (size_t i = 0; i < t->numel; i++) {
            int32_t v;
            memcpy(&v, t->data + 4 * i, 4);
            out[i] = v;
        }
        return 0;
    }
    return sg_err_set(err, "%s: tensor \"%s\": dtype %s where an integer tensor is expected", f->path, t->name,
                      sg_st_dtype_name(t->dtype));
}

/* ---- writing ------------------------------------------------------------------ */

struct sg_st_entry_ {
    char *name;
    sg_st_dtype dtype;
    int ndim;
    int64_t shape[SG_ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
    void *owned;              /* a host copy of a device tensor's data, freed with the writer */
};

void sg_st_writer_init(sg_st_writer *w) { memset(w, 0, sizeof *w); }

void sg_st_writer_free(sg_st_writer *w)
{
    for (int i = 0; i < w->n; i++) {
        free(w->entries[i].name);
        free(w->entries[i].owned);
    }
    for (int i = 0; i < w->n_meta; i++) {
        free(w->meta_keys[i]);
        free(w->meta_values[i]);
    }
    free(w->entries);
    free(w->meta_keys);
    free(w->meta_values);
    memset(w, 0, sizeof *w);
}

static void sg_st_add_(sg_st_writer *w, const char *name, sg_st_dtype dt, int ndim, const int *shape,
                       const void *data)
{
    SG_CHECK(name && name[0] && strcmp(name, "__metadata__") != 0, "sg_st_add: invalid tensor name \"%s\"",
             name ? name : "(null)");
    SG_CHECK(ndim >= 0 && ndim <= SG_ST_MAX_DIMS, "sg_st_add: \"%s\" has %d dimensions", name, ndim);
    for (int i = 0; i < w->n; i++)
        SG_CHECK(strcmp(w->entries[i].name, name) != 0, "sg_st_add: duplicate tensor name \"%s\"", name);
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->entries = realloc(w->entries, (size_t)w->cap * sizeof *w->entries);
        SG_CHECK(w->entries, "sg_st_add: out of memory");
    }
    struct sg_st_entry_ *e = &w->entries[w->n++];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    SG_CHECK(e->name, "sg_st_add: out of memory");
    e->dtype = dt;
    e->ndim = ndim;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        SG_CHECK(shape[i] >= 0, "sg_st_add: \"%s\" has negative dimension %d", name, shape[i]);
        e->shape[i] = shape[i];
        numel *= (size_t)shape[i];
    }
    e->nbytes = numel * sg_st_dtype_size_(dt);
    SG_CHECK(data || e->nbytes == 0, "sg_st_add: \"%s\" has no data", name);
    e->data = data;
}

void sg_st_add_f32(sg_st_writer *w, const char *name, int ndim, const int *shape, const float *data)
{
    sg_st_add_(w, name, SG_ST_F32, ndim, shape, data);
}

void sg_st_add_i64(sg_st_writer *w, const char *name, int ndim, const int *shape, const int64_t *data)
{
    sg_st_add_(w, name, SG_ST_I64, ndim, shape, data);
}

void sg_st_add_tensor(sg_st_writer *w, const char *name, const sg_tensor *t)
{
    SG_CHECK(t->dtype == SG_F32, "sg_st_add_tensor: \"%s\" is not a float tensor", name);
    if (t->device.type == SG_DEVICE_CPU) {
        sg_st_add_(w, name, SG_ST_F32, t->ndim, t->shape, t->data);
        return;
    }
    /* A device tensor is written from a host copy: files are device-free. */
    void *host = sg_xmalloc(sg_numel(t) * sizeof(float));
    sg_tensor_read(t, host);
    sg_st_add_(w, name, SG_ST_F32, t->ndim, t->shape, host);
    w->entries[w->n - 1].owned = host;
}

void sg_st_add_meta(sg_st_writer *w, const char *key, const char *value)
{
    SG_CHECK(key && value, "sg_st_add_meta: NULL key or value");
    for (int i = 0; i < w->n_meta; i++)
        SG_CHECK(strcmp(w->meta_keys[i], key) != 0, "sg_st_add_meta: duplicate key \"%s\"", key);
    if (w->n_meta == w->cap_meta) {
        w->cap_meta = w->cap_meta ? 2 * w->cap_meta : 8;
        w->meta_keys = realloc(w->meta_keys, (size_t)w->cap_meta * sizeof *w->meta_keys);
        w->meta_values = realloc(w->meta_values, (size_t)w->cap_meta * sizeof *w->meta_values);
        SG_CHECK(w->meta_keys && w->meta_values, "sg_st_add_meta: out of memory");
    }
    w->meta_keys[w->n_meta] = strdup(key);
    w->meta_values[w->n_meta] = strdup(value);
    SG_CHECK(w->meta_keys[w->n_meta] && w->meta_values[w->n_meta], "sg_st_add_meta: out of memory");
    w->n_meta++;
}

static int sg_st_cmp_entry_(const void *a, const void *b)
{
    return strcmp((*(const struct sg_st_entry_ *const *)a)->name, (*(const struct sg_st_entry_ *const *)b)->name);
}

/* The JSON header; NULL with err set when a name or string is not UTF-8
 * (jansson refuses those, and a silently dropped entry would corrupt the file). */
static char *sg_st_header_(const sg_st_writer *w, const struct sg_st_entry_ *const *order, const char *path,
                           sg_err *err)
{
    json_t *root = json_object();
    size_t offset = 0;
    for (int i = 0; i < w->n; i++) {
        const struct sg_st_entry_ *e = order[i];
        json_t *shape = json_array();
        for (int d = 0; d < e->ndim; d++) json_array_append_new(shape, json_integer(e->shape[d]));
        json_t *info = json_pack("{s:s, s:o, s:[I, I]}", "dtype", sg_st_dtype_name(e->dtype), "shape", shape,
                                 "data_offsets", (json_int_t)offset, (json_int_t)(offset + e->nbytes));
        SG_CHECK(info, "sg_st_write: out of memory");
        if (json_object_set_new(root, e->name, info)) {
            json_decref(root);
            sg_err_set(err, "%s: tensor name \"%s\" is not valid UTF-8", path, e->name);
            return NULL;
        }
        offset += e->nbytes;
    }
    if (w->n_meta) {
        json_t *meta = json_object();
        json_object_set_new(root, "__metadata__", meta);
        for (int i = 0; i < w->n_meta; i++) {
            json_t *v = json_string(w->meta_values[i]);
            if (!v || json_object_set_new(meta, w->meta_keys[i], v)) {
                json_decref(root);
                sg_err_set(err, "%s: metadata \"%s\" is not valid UTF-8", path, w->meta_keys[i]);
                return NULL;
            }
        }
    }
    char *header = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    SG_CHECK(header, "sg_st_write: out of memory encoding the header of %s", path);
    return header;
}

int sg_st_write(const sg_st_writer *w, const char *path, sg_err *err)
{
    const struct sg_st_entry_ **order = sg_xmalloc((size_t)(w->n ? w->n : 1) * sizeof *order);
    for (int i = 0; i < w->n; i++) order[i] = &w->entries[i];
    qsort(order, (size_t)w->n, sizeof *order, sg_st_cmp_entry_);
    char *header = sg_st_header_(w, order, path, err);
    if (!header) {
        free(order);
        return -1;
    }
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
    uint64_t n = padded;

    sg_atomic_file af;
    int rc = sg_atomic_open(&af, path, err);
    if (rc == 0) {
        fwrite(&n, 8, 1, af.fp);
        fwrite(header, 1, hlen, af.fp);
        for (size_t i = hlen; i < padded; i++) fputc(' ', af.fp);
        for (int i = 0; i < w->n; i++)
            if (order[i]->nbytes) fwrite(order[i]->data, 1, order[i]->nbytes, af.fp);
        rc = sg_atomic_commit(&af, err);
    }
    free(header);
    free(order);
    return rc;
}

/* ---- digest -------------------------------------------------------------------- */
#define SG_FNV_OFFSET 0xcbf29ce484222325ull
#define SG_FNV_PRIME 0x100000001b3ull

static uint64_t sg_fnv_(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * SG_FNV_PRIME;
    return h;
}

static uint64_t sg_digest_tensor_(uint64_t h, const char *name, sg_st_dtype dt, int ndim,
                                  const int64_t *shape, const void *data, size_t nbytes)
{
    h = sg_fnv_(h, name, strlen(name) + 1);
    const char *d = sg_st_dtype_name(dt);
    h = sg_fnv_(h, d, strlen(d) + 1);
    h = sg_fnv_(h, shape, (size_t)ndim * sizeof *shape);
    return sg_fnv_(h, data, nbytes);
}

uint64_t sg_st_writer_digest(const sg_st_writer *w)
{
    const struct sg_st_entry_ **order = sg_xmalloc((size_t)(w->n ? w->n : 1) * sizeof *order);
    for (int i = 0; i < w->n; i++) order[i] = &w->entries[i];
    qsort(order, (size_t)w->n, sizeof *order, sg_st_cmp_entry_);
    uint64_t h = SG_FNV_OFFSET;
    for (int i = 0; i < w->n; i++)
        h = sg_digest_tensor_(h, order[i]->name, order[i]->dtype, order[i]->ndim, order[i]->shape,
                              order[i]->data, order[i]->nbytes);
    free(order);
    return h;
}

uint64_t sg_st_file_digest(const sg_st_file *f)
{
    /* f->tensors are sorted by name (sg_st_find searches them). */
    uint64_t h = SG_FNV_OFFSET;
    for (int i = 0; i < f->n_tensors; i++) {
        const sg_st_tensor *t = &f->tensors[i];
        h = sg_digest_tensor_(h, t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes);
    }
    return h;
}
