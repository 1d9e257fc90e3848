/* shoebox_core.format._native: the record hot path of format version 2, compiled.
 *
 * docs/FORMAT.md is the specification; shoebox_core/format/codec.py holds the pure-Python
 * reference of every function here and explains the contract. In short:
 *
 *   encode_record(metadata, payload) -> bytes
 *   encode_batch(records, limit) -> list[bytes] | None
 *   decode_block(body, count, flags) -> tuple[tuple[dict, str | bytes], ...]
 *
 * This module only handles the common, well-formed case: a plain dict of exact str to exact str
 * and an exact str or bytes payload on the way in; on the way out, a RECORDS body made only of
 * pairs of a str-to-str map and a str or bin payload. Anything else (a Mapping, a subclass, a
 * lone surrogate, damage, an int where a str belongs, a repeated map key, a block flag...) is
 * handed, unchanged, to the Python implementation registered with set_fallbacks(), which
 * accepts, refuses or reports it exactly as the pure-Python path does. So both paths give byte-identical archives, identical records
 * and identical errors by construction, and this file never has to phrase an error.
 *
 * The msgpack produced is what msgpack-python's Packer(use_bin_type=True) produces for a
 * (metadata, payload) tuple: the shortest form of each header, dict entries in insertion order.
 * Written from the msgpack specification; no code is taken from any msgpack implementation.
 *
 * No state is shared between calls (decode_block's string cache lives on its stack), and no
 * Python code runs while a call holds a borrowed view of the caller's objects, so the functions
 * are safe to call from several threads under the GIL.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static PyObject *fallback_encode = NULL;       /* (metadata, payload) -> bytes, or raises */
static PyObject *fallback_encode_batch = NULL; /* (records, limit) -> list | None */
static PyObject *fallback_decode = NULL;       /* (body, count, flags) -> tuple, or raises */

#define U32_MAX 0xffffffffULL

/* -- encoding ----------------------------------------------------------------------------- */

/* Bytes of the msgpack header of a str (or bin) of n bytes; 0 when msgpack cannot hold it. */
static inline Py_ssize_t
str_head(Py_ssize_t n)
{
    if (n < 32) return 1;
    if (n <= 0xff) return 2;
    if (n <= 0xffff) return 3;
    if ((unsigned long long)n <= U32_MAX) return 5;
    return 0;
}

static inline Py_ssize_t
bin_head(Py_ssize_t n)
{
    if (n <= 0xff) return 2;
    if (n <= 0xffff) return 3;
    if ((unsigned long long)n <= U32_MAX) return 5;
    return 0;
}

static inline Py_ssize_t
map_head(Py_ssize_t n)
{
    if (n < 16) return 1;
    if (n <= 0xffff) return 3;
    return 5;
}

static inline unsigned char *
put_be16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
    return p + 2;
}

static inline unsigned char *
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
    return p + 4;
}

static inline unsigned char *
put_str(unsigned char *p, const char *s, Py_ssize_t n)
{
    if (n < 32) {
        *p++ = (unsigned char)(0xa0 | n);
    } else if (n <= 0xff) {
        *p++ = 0xd9;
        *p++ = (unsigned char)n;
    } else if (n <= 0xffff) {
        *p++ = 0xda;
        p = put_be16(p, (uint32_t)n);
    } else {
        *p++ = 0xdb;
        p = put_be32(p, (uint32_t)n);
    }
    memcpy(p, s, (size_t)n);
    return p + n;
}

static inline unsigned char *
put_bin(unsigned char *p, const char *s, Py_ssize_t n)
{
    if (n <= 0xff) {
        *p++ = 0xc4;
        *p++ = (unsigned char)n;
    } else if (n <= 0xffff) {
        *p++ = 0xc5;
        p = put_be16(p, (uint32_t)n);
    } else {
        *p++ = 0xc6;
        p = put_be32(p, (uint32_t)n);
    }
    memcpy(p, s, (size_t)n);
    return p + n;
}

/* UTF-8 of an exact str; NULL (no exception set) when it has none (a lone surrogate). */
static inline const char *
utf8_of(PyObject *text, Py_ssize_t *size)
{
    const char *s = PyUnicode_AsUTF8AndSize(text, size);
    if (s == NULL) PyErr_Clear();
    return s;
}

/* Size of the encoded record, or -1 when this module does not handle it (no exception set). */
static Py_ssize_t
record_size(PyObject *metadata, PyObject *payload)
{
    Py_ssize_t total, n, pos = 0, h;
    PyObject *key, *value;
    const char *s;

    if (!PyDict_CheckExact(metadata)) return -1;
    total = 1 + map_head(PyDict_GET_SIZE(metadata)); /* fixarray of 2, then the map */
    while (PyDict_Next(metadata, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key) || !PyUnicode_CheckExact(value)) return -1;
        if ((s = utf8_of(key, &n)) == NULL || (h = str_head(n)) == 0) return -1;
        total += h + n;
        if ((s = utf8_of(value, &n)) == NULL || (h = str_head(n)) == 0) return -1;
        total += h + n;
    }
    if (PyUnicode_CheckExact(payload)) {
        if ((s = utf8_of(payload, &n)) == NULL || (h = str_head(n)) == 0) return -1;
    } else if (PyBytes_CheckExact(payload)) {
        n = PyBytes_GET_SIZE(payload);
        if ((h = bin_head(n)) == 0) return -1;
    } else {
        return -1;
    }
    (void)s;
    return total + h + n;
}

/* Write the record checked by record_size() into ``out`` (exactly ``size`` bytes). Returns 0,
 * or -1 if the record changed meanwhile (it cannot while the GIL is held; checked anyway). */
static int
record_write(PyObject *metadata, PyObject *payload, unsigned char *out, Py_ssize_t size)
{
    unsigned char *p = out;
    Py_ssize_t n, pos = 0, items = PyDict_GET_SIZE(metadata);
    PyObject *key, *value;
    const char *s;

    *p++ = 0x92;
    if (items < 16) {
        *p++ = (unsigned char)(0x80 | items);
    } else if (items <= 0xffff) {
        *p++ = 0xde;
        p = put_be16(p, (uint32_t)items);
    } else {
        *p++ = 0xdf;
        p = put_be32(p, (uint32_t)items);
    }
    while (PyDict_Next(metadata, &pos, &key, &value)) {
        if ((s = utf8_of(key, &n)) == NULL) return -1;
        if (p + str_head(n) + n > out + size) return -1;
        p = put_str(p, s, n);
        if ((s = utf8_of(value, &n)) == NULL) return -1;
        if (p + str_head(n) + n > out + size) return -1;
        p = put_str(p, s, n);
    }
    if (PyUnicode_CheckExact(payload)) {
        if ((s = utf8_of(payload, &n)) == NULL) return -1;
        if (p + str_head(n) + n != out + size) return -1;
        p = put_str(p, s, n);
    } else {
        n = PyBytes_GET_SIZE(payload);
        if (p + bin_head(n) + n != out + size) return -1;
        p = put_bin(p, PyBytes_AS_STRING(payload), n);
    }
    return p == out + size ? 0 : -1;
}

/* The encoded record as a new bytes object; NULL without an exception when not handled here. */
static PyObject *
encode_fast(PyObject *metadata, PyObject *payload, Py_ssize_t limit)
{
    Py_ssize_t size = record_size(metadata, payload);
    PyObject *data;

    if (size < 0 || size >= limit) return NULL;
    data = PyBytes_FromStringAndSize(NULL, size);
    if (data == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (record_write(metadata, payload, (unsigned char *)PyBytes_AS_STRING(data), size) < 0) {
        Py_DECREF(data);
        return NULL;
    }
    return data;
}

static PyObject *
encode_record(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *data;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "encode_record(metadata, payload) takes 2 arguments");
        return NULL;
    }
    data = encode_fast(args[0], args[1], PY_SSIZE_T_MAX);
    if (data != NULL) return data;
    if (fallback_encode == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "shoebox _native: set_fallbacks() was not called");
        return NULL;
    }
    return PyObject_Vectorcall(fallback_encode, args, 2, NULL);
}

static PyObject *
encode_batch(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *records, *out, *item, *data;
    Py_ssize_t limit, i, count;

    if (nargs != 2 || !PyList_CheckExact(args[0])) {
        if (fallback_encode_batch == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "shoebox _native: set_fallbacks() was not called");
            return NULL;
        }
        return PyObject_Vectorcall(fallback_encode_batch, args, nargs, NULL);
    }
    records = args[0];
    limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    count = PyList_GET_SIZE(records);
    out = PyList_New(count);
    if (out == NULL) return NULL;
    for (i = 0; i < count; i++) {
        /* The list cannot change under us: no Python code runs in this loop. */
        item = PyList_GET_ITEM(records, i);
        if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2) {
            data = encode_fast(PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1), limit);
        } else if (PyList_CheckExact(item) && PyList_GET_SIZE(item) == 2) {
            data = encode_fast(PyList_GET_ITEM(item, 0), PyList_GET_ITEM(item, 1), limit);
        } else {
            data = NULL;
        }
        if (data == NULL) {
            /* Unusual or too big: the caller goes record by record, which raises where due. */
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
        PyList_SET_ITEM(out, i, data);
    }
    return out;
}

/* -- decoding ----------------------------------------------------------------------------- */

/* Short strings (metadata keys, and values such as an event type or a host name) repeat from
 * record to record: a small direct-mapped cache hands out the same str object again instead of
 * decoding a new one. Lives on decode_block's stack: nothing is shared between calls. */
#define CACHE_SLOTS 256
#define CACHE_MAX_LEN 48

typedef struct {
    PyObject *text[CACHE_SLOTS]; /* ASCII-only compact str, or NULL */
} str_cache;

static inline uint32_t
hash_bytes(const unsigned char *s, Py_ssize_t n)
{
    uint32_t h = 2166136261u ^ (uint32_t)n;
    Py_ssize_t i;
    for (i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h ^ (h >> 15);
}

static inline int
all_ascii(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    uint64_t acc = 0, w;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < n; i++) acc |= s[i];
    return (acc & 0x8080808080808080ULL) == 0;
}

/* A new reference to the str of UTF-8 bytes s[0:n]; NULL (exception set) when invalid. */
static inline PyObject *
make_str(const unsigned char *s, Py_ssize_t n)
{
    PyObject *text;
    if (all_ascii(s, n)) {
        text = PyUnicode_New(n, 127);
        if (text != NULL) memcpy(PyUnicode_DATA(text), s, (size_t)n);
        return text;
    }
    return PyUnicode_DecodeUTF8((const char *)s, n, NULL);
}

static inline PyObject *
cached_str(str_cache *cache, const unsigned char *s, Py_ssize_t n)
{
    PyObject *text, **slot;
    if (n > CACHE_MAX_LEN) return make_str(s, n);
    slot = &cache->text[hash_bytes(s, n) & (CACHE_SLOTS - 1)];
    text = *slot;
    if (text != NULL && PyUnicode_GET_LENGTH(text) == n &&
        memcmp(PyUnicode_DATA(text), s, (size_t)n) == 0) {
        Py_INCREF(text);
        return text;
    }
    if (!all_ascii(s, n)) return PyUnicode_DecodeUTF8((const char *)s, n, NULL);
    text = PyUnicode_New(n, 127);
    if (text == NULL) return NULL;
    memcpy(PyUnicode_DATA(text), s, (size_t)n);
    Py_XSETREF(*slot, text);
    Py_INCREF(text);
    return text;
}

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} reader;

static inline int
get_be16(reader *r, Py_ssize_t *v)
{
    if (r->end - r->p < 2) return -1;
    *v = ((Py_ssize_t)r->p[0] << 8) | r->p[1];
    r->p += 2;
    return 0;
}

static inline int
get_be32(reader *r, Py_ssize_t *v)
{
    if (r->end - r->p < 4) return -1;
    *v = (Py_ssize_t)(((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) |
                      ((uint32_t)r->p[2] << 8) | r->p[3]);
    r->p += 4;
    return 0;
}

/* An array header; -1 if the next object is not an array (or is cut short). */
static inline int
get_array(reader *r, Py_ssize_t *n)
{
    unsigned char b;
    if (r->p >= r->end) return -1;
    b = *r->p++;
    if ((b & 0xf0) == 0x90) {
        *n = b & 0x0f;
        return 0;
    }
    if (b == 0xdc) return get_be16(r, n);
    if (b == 0xdd) return get_be32(r, n);
    return -1;
}

static inline int
get_map(reader *r, Py_ssize_t *n)
{
    unsigned char b;
    if (r->p >= r->end) return -1;
    b = *r->p++;
    if ((b & 0xf0) == 0x80) {
        *n = b & 0x0f;
        return 0;
    }
    if (b == 0xde) return get_be16(r, n);
    if (b == 0xdf) return get_be32(r, n);
    return -1;
}

/* A str (*is_bin = 0) or, when bin_ok, a bin (*is_bin = 1): its bytes at *s, n of them. */
static inline int
get_str(reader *r, const unsigned char **s, Py_ssize_t *n, int bin_ok, int *is_bin)
{
    unsigned char b;
    int rc = 0;
    if (r->p >= r->end) return -1;
    b = *r->p++;
    *is_bin = 0;
    if ((b & 0xe0) == 0xa0) {
        *n = b & 0x1f;
    } else if (b == 0xd9 || (bin_ok && b == 0xc4)) {
        if (r->p >= r->end) return -1;
        *n = *r->p++;
        *is_bin = b == 0xc4;
    } else if (b == 0xda || (bin_ok && b == 0xc5)) {
        rc = get_be16(r, n);
        *is_bin = b == 0xc5;
    } else if (b == 0xdb || (bin_ok && b == 0xc6)) {
        rc = get_be32(r, n);
        *is_bin = b == 0xc6;
    } else {
        return -1;
    }
    if (rc < 0 || r->end - r->p < *n) return -1;
    *s = r->p;
    r->p += *n;
    return 0;
}

/* One record as a new (metadata, payload) tuple; NULL when not handled here (an exception may
 * be set: the caller clears it and falls back). */
static PyObject *
decode_record(reader *r, str_cache *cache)
{
    Py_ssize_t n, items, i;
    const unsigned char *s;
    int is_bin;
    PyObject *metadata = NULL, *key, *value, *payload, *pair;

    if (get_array(r, &n) < 0 || n != 2) return NULL;
    if (get_map(r, &items) < 0) return NULL;
    metadata = PyDict_New();
    if (metadata == NULL) return NULL;
    for (i = 0; i < items; i++) {
        if (get_str(r, &s, &n, 0, &is_bin) < 0) goto fail;
        key = cached_str(cache, s, n);
        if (key == NULL) goto fail;
        if (get_str(r, &s, &n, 0, &is_bin) < 0) {
            Py_DECREF(key);
            goto fail;
        }
        value = cached_str(cache, s, n);
        if (value == NULL) {
            Py_DECREF(key);
            goto fail;
        }
        if (PyDict_SetItem(metadata, key, value) < 0) {
            Py_DECREF(key);
            Py_DECREF(value);
            goto fail;
        }
        Py_DECREF(key);
        Py_DECREF(value);
        /* A repeated key is damage (FORMAT.md): the fallback names it. */
        if (PyDict_GET_SIZE(metadata) != i + 1) goto fail;
    }
    if (get_str(r, &s, &n, 1, &is_bin) < 0) goto fail;
    payload = is_bin ? PyBytes_FromStringAndSize((const char *)s, n) : make_str(s, n);
    if (payload == NULL) goto fail;
    pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(payload);
        goto fail;
    }
    PyTuple_SET_ITEM(pair, 0, metadata);
    PyTuple_SET_ITEM(pair, 1, payload);
    return pair;
fail:
    Py_DECREF(metadata);
    return NULL;
}

static PyObject *
decode_fast(const unsigned char *data, Py_ssize_t size, Py_ssize_t count)
{
    reader r = {data, data + size};
    str_cache cache;
    Py_ssize_t n, i;
    PyObject *records = NULL, *record;

    memset(&cache, 0, sizeof(cache));
    /* Each record takes at least 3 bytes: a count beyond that is damage (the fallback says so). */
    if (get_array(&r, &n) < 0 || n != count || count > size / 3) goto done;
    records = PyTuple_New(count);
    if (records == NULL) goto done;
    for (i = 0; i < count; i++) {
        record = decode_record(&r, &cache);
        if (record == NULL) {
            Py_CLEAR(records);
            goto done;
        }
        PyTuple_SET_ITEM(records, i, record);
    }
    if (r.p != r.end) Py_CLEAR(records); /* bytes after the array */
done:
    for (i = 0; i < CACHE_SLOTS; i++) Py_XDECREF(cache.text[i]);
    if (records == NULL) PyErr_Clear();
    return records;
}

static PyObject *
decode_block(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t count;
    long flags;
    PyObject *records = NULL;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "decode_block(body, count, flags) takes 3 arguments");
        return NULL;
    }
    count = PyLong_AsSsize_t(args[1]);
    if (count == -1 && PyErr_Occurred()) return NULL;
    flags = PyLong_AsLong(args[2]);
    if (flags == -1 && PyErr_Occurred()) return NULL;
    /* Records with extension elements are rare (no writer sets the flag yet), and unknown flag
     * bits are damage: both are Python's. */
    if (flags == 0 &&
        PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) == 0) {
        records = decode_fast((const unsigned char *)view.buf, view.len, count);
        PyBuffer_Release(&view);
        if (records != NULL) return records;
    }
    PyErr_Clear();
    if (fallback_decode == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "shoebox _native: set_fallbacks() was not called");
        return NULL;
    }
    return PyObject_Vectorcall(fallback_decode, args, 3, NULL);
}

/* The fast paths alone, for the tests: None where the Python fallback would be called. */
static PyObject *
encode_record_fast(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *data;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "encode_record_fast(metadata, payload)");
        return NULL;
    }
    data = encode_fast(args[0], args[1], PY_SSIZE_T_MAX);
    if (data != NULL) return data;
    Py_RETURN_NONE;
}

static PyObject *
decode_block_fast(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t count;
    PyObject *records;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "decode_block_fast(body, count)");
        return NULL;
    }
    count = PyLong_AsSsize_t(args[1]);
    if (count == -1 && PyErr_Occurred()) return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    records = decode_fast((const unsigned char *)view.buf, view.len, count);
    PyBuffer_Release(&view);
    if (records != NULL) return records;
    Py_RETURN_NONE;
}


/* -- the writer's intake ------------------------------------------------------------------ */

/* Intake: the base type of shoebox_core.write.intake.RecordIntake when compiled. It holds the
 * three fields write() reads (``_inbox``, ``_batch``, ``_big``) and write() itself, so that a
 * record costs one C call and no Python frame: encode (encode_record's checks and fallback),
 * then either hand a big record to ``self._write_now([data])``, or append it to the inbox and,
 * once ``_batch`` records wait, call ``self._drain(data)``. The Python methods hold the lock and
 * do the rest; they are the same for both paths (see RecordIntake). Runs under the GIL without
 * releasing it between reading the gates and appending, as the pure-Python write() does. */
typedef struct {
    PyObject_HEAD
    PyObject *inbox;
    Py_ssize_t batch;
    Py_ssize_t big;
} IntakeObject;

static PyObject *str_write_now = NULL;
static PyObject *str_drain = NULL;

static int
intake_traverse(IntakeObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->inbox);
    return 0;
}

static int
intake_clear(IntakeObject *self)
{
    Py_CLEAR(self->inbox);
    return 0;
}

static void
intake_dealloc(IntakeObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    intake_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyObject *
intake_write(IntakeObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *given[2] = {NULL, NULL}, *data, *result, *inbox;
    Py_ssize_t i, nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);

    if (nargs > 2) goto usage;
    for (i = 0; i < nargs; i++) given[i] = args[i];
    for (i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        int slot = PyUnicode_CompareWithASCIIString(name, "metadata") == 0   ? 0
                   : PyUnicode_CompareWithASCIIString(name, "payload") == 0 ? 1
                                                                             : -1;
        if (slot < 0 || given[slot] != NULL) goto usage;
        given[slot] = args[nargs + i];
    }
    if (given[0] == NULL || given[1] == NULL) goto usage;

    data = encode_fast(given[0], given[1], PY_SSIZE_T_MAX);
    if (data == NULL) {
        if (fallback_encode == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "shoebox _native: set_fallbacks() was not called");
            return NULL;
        }
        data = PyObject_Vectorcall(fallback_encode, given, 2, NULL);
        if (data == NULL) return NULL; /* TypeError naming the key, and the like */
    }
    if (PyBytes_GET_SIZE(data) >= self->big) {
        PyObject *one = PyList_New(1);
        if (one == NULL) {
            Py_DECREF(data);
            return NULL;
        }
        PyList_SET_ITEM(one, 0, data); /* steals */
        result = PyObject_CallMethodOneArg((PyObject *)self, str_write_now, one);
        Py_DECREF(one);
        return result;
    }
    inbox = self->inbox;
    if (inbox == NULL || !PyList_CheckExact(inbox)) {
        Py_DECREF(data);
        PyErr_SetString(PyExc_RuntimeError, "shoebox: the writer's inbox is not set up");
        return NULL;
    }
    if (PyList_Append(inbox, data) < 0) {
        Py_DECREF(data);
        return NULL;
    }
    if (PyList_GET_SIZE(inbox) >= self->batch) {
        result = PyObject_CallMethodOneArg((PyObject *)self, str_drain, data);
        Py_DECREF(data);
        return result;
    }
    Py_DECREF(data);
    Py_RETURN_NONE;

usage:
    PyErr_SetString(PyExc_TypeError, "write() takes two arguments: metadata and payload");
    return NULL;
}

static PyMethodDef intake_methods[] = {
    {"write", (PyCFunction)(void (*)(void))intake_write, METH_FASTCALL | METH_KEYWORDS,
     "write($self, metadata, payload)\n--\n\n"
     "Append one record. ``metadata`` maps str to str; ``payload`` is str or bytes and is read\n"
     "back as the same type. Raises TypeError naming a bad key, RecordTooLarge.\n\n"
     "The record is checked and encoded at once (later changes to ``metadata`` do not reach\n"
     "the archive), then written with the records around it a block at a time."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef intake_members[] = {
    {"_inbox", T_OBJECT_EX, offsetof(IntakeObject, inbox), 0,
     "encoded records waiting to be moved into the archive"},
    {"_batch", T_PYSSIZET, offsetof(IntakeObject, batch), 0,
     "records that may wait before write() moves them"},
    {"_big", T_PYSSIZET, offsetof(IntakeObject, big), 0,
     "encoded size from which write() writes a record at once"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot intake_slots[] = {
    {Py_tp_doc, "The compiled write() of shoebox's writer, and the fields it reads."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, intake_dealloc},
    {Py_tp_traverse, intake_traverse},
    {Py_tp_clear, intake_clear},
    {Py_tp_methods, intake_methods},
    {Py_tp_members, intake_members},
    {0, NULL},
};

static PyType_Spec intake_spec = {
    "shoebox_core.format._native.Intake",
    sizeof(IntakeObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    intake_slots,
};

/* -- the module --------------------------------------------------------------------------- */

static PyObject *
set_fallbacks(PyObject *module, PyObject *args)
{
    PyObject *encode, *batch, *decode;
    if (!PyArg_ParseTuple(args, "OOO:set_fallbacks", &encode, &batch, &decode)) return NULL;
    Py_INCREF(encode);
    Py_INCREF(batch);
    Py_INCREF(decode);
    Py_XSETREF(fallback_encode, encode);
    Py_XSETREF(fallback_encode_batch, batch);
    Py_XSETREF(fallback_decode, decode);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"encode_record", (PyCFunction)(void (*)(void))encode_record, METH_FASTCALL,
     "encode_record(metadata, payload) -> bytes: one record as msgpack [metadata, payload]."},
    {"encode_batch", (PyCFunction)(void (*)(void))encode_batch, METH_FASTCALL,
     "encode_batch(records, limit) -> list of bytes, or None when the batch must go record by "
     "record (anything unusual, or a record of limit bytes or more)."},
    {"decode_block", (PyCFunction)(void (*)(void))decode_block, METH_FASTCALL,
     "decode_block(body, count, flags) -> tuple of (metadata, payload): a RECORDS block body."},
    {"encode_record_fast", (PyCFunction)(void (*)(void))encode_record_fast, METH_FASTCALL,
     "encode_record without the fallback: None where it would be called (for tests)."},
    {"decode_block_fast", (PyCFunction)(void (*)(void))decode_block_fast, METH_FASTCALL,
     "decode_block(body, count, 0) without the fallback: None where it would be called."},
    {"set_fallbacks", set_fallbacks, METH_VARARGS,
     "set_fallbacks(encode_record, encode_batch, decode_block): the Python implementations "
     "that handle what this module does not."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_native",
    "The compiled record hot path of shoebox format v2 (see shoebox_core.format.codec).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    PyObject *module, *intake;

    str_write_now = PyUnicode_InternFromString("_write_now");
    str_drain = PyUnicode_InternFromString("_drain");
    if (str_write_now == NULL || str_drain == NULL) return NULL;
    module = PyModule_Create(&module_def);
    if (module == NULL) return NULL;
    intake = PyType_FromSpec(&intake_spec);
    if (intake == NULL || PyModule_AddObject(module, "Intake", intake) < 0) {
        Py_XDECREF(intake);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
