/* The compiled twin of the OKX book's two hottest loops and of the checksum's join.
 *
 * Optional: desk.market.native imports it when it was built from the sources now on disk
 * (SOURCE_HASH, set by setup.py) and falls back to the pure Python otherwise. The pure Python
 * (book.py, book_side.py, checksum.py) is the reference: every function here mirrors one of
 * them step for step, on the same cells ([size, key, price, lower] lists) and the same
 * TopStrings lists, so a book can be handed from one to the other at any message.
 *
 *   methods(OrderBook, checksum_afresh) -> (apply_named, checksum), method descriptors:
 *     apply_named: OrderBook.apply_named, both loops (the plain one, and the one noting the
 *                  checksum strings: book_side.apply_named_noting)
 *     checksum:    OrderBook.checksum (a side without kept strings: checksum_afresh, Python)
 *   checksum(bid_pieces, ask_pieces) -> the signed CRC32 of the interleaved pieces joined
 *                                       with ':', with no str join and no encode
 *   bind(...): the pure module's callbacks and constants, once at import
 *
 * Why C: per level the Python loop spends ~1,260 instructions on dispatch, attribute reads and
 * rich comparisons; here a level is two slot reads, one dict lookup, one store and two compares
 * (a size change of a known price: ~27 ns a level against ~77 in the Python, on the same
 * machine; bench/feed_throughput.py prints both implementations side by side). What only the Python knows (parsing a new price, settling the top, the checksum's
 * refill, the error messages) is called back: bind() hands those functions over once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

#ifndef DESK_SOURCE_HASH
#define DESK_SOURCE_HASH "unknown"
#endif

static PyObject *unknown_price_fn, *settle_top_fn, *bad_size_fn, *crc32_fn, *zero_ceiling,
    *checksum_afresh_fn;
static long compact_every = -1;

/* -- attributes read and written through their slots ----------------------------------------
 *
 * Levels (msgspec structs), sides, TopStrings and books all keep their attributes in __slots__:
 * a generic attribute read walks the type's MRO cache and the member descriptor (about half of
 * this module's time per level). Each attribute here remembers, per type, the slot's offset and
 * the type's version tag (changed by any edit to the class), and reads the slot directly while
 * both match; anything else (another type, a property, a __getattribute__, an empty slot) takes
 * the generic PyObject_GetAttr / PyObject_SetAttr, with its usual errors. */
typedef struct {
    const char *text;
    PyObject *name;
    PyTypeObject *type;
    unsigned int version;
    Py_ssize_t offset; /* 0: no slot, use the generic path */
} Attr;

static Attr a_cells = {"cells"}, a_top_cell = {"top_cell"}, a_top_key = {"top_key"},
            a_new_prices = {"new_prices"}, a_ck = {"ck"}, a_floor = {"floor"},
            a_neg_keys = {"neg_keys"}, a_pieces = {"pieces"}, a_depth = {"depth"},
            a_ck_changed = {"ck_changed"}, a_px = {"px"}, a_sz = {"sz"},
            a_best_bid_px = {"best_bid_px"}, a_best_ask_px = {"best_ask_px"},
            a_kept = {"cells"}, a_bids = {"_bids"}, a_asks = {"_asks"}, a_seq_id = {"seq_id"},
            a_ts_exchange = {"ts_exchange"}, a_crc = {"_crc"}, a_parts = {"_parts"};
static Attr *all_attrs[] = {&a_cells,    &a_top_cell,   &a_top_key, &a_new_prices, &a_ck,
                            &a_floor,    &a_neg_keys,   &a_pieces,  &a_depth,      &a_ck_changed,
                            &a_px,       &a_sz,         &a_best_bid_px, &a_best_ask_px, &a_kept,
                            &a_bids,     &a_asks,       &a_seq_id,  &a_ts_exchange, &a_crc,
                            &a_parts};
static PyObject *s_settle;

static void learn(PyObject *obj, Attr *a) {
    PyTypeObject *t = Py_TYPE(obj);
    a->type = t;
    a->offset = 0;
    a->version = 0;
    if (t->tp_getattro != PyObject_GenericGetAttr) return;
    PyObject *descr = _PyType_Lookup(t, a->name); /* borrowed; assigns the version tag */
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) || t->tp_version_tag == 0)
        return;
#ifdef Py_TPFLAGS_VALID_VERSION_TAG
    if (!PyType_HasFeature(t, Py_TPFLAGS_VALID_VERSION_TAG)) return;
#endif
    PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & READONLY)) return;
    a->version = t->tp_version_tag;
    a->offset = m->offset;
}

static inline PyObject **slot_of(PyObject *obj, Attr *a) {
    PyTypeObject *t = Py_TYPE(obj);
    if (t != a->type || t->tp_version_tag != a->version) {
        learn(obj, a);
    }
    if (a->offset == 0 || t->tp_version_tag != a->version) return NULL;
    return (PyObject **)((char *)obj + a->offset);
}

/* obj.<name> as a new reference, or NULL with an exception. */
static inline PyObject *get(PyObject *obj, Attr *a) {
    PyObject **slot = slot_of(obj, a);
    if (slot != NULL && *slot != NULL) {
        Py_INCREF(*slot);
        return *slot;
    }
    return PyObject_GetAttr(obj, a->name);
}

/* obj.<name> = value; 0 or -1 with an exception. */
static inline int set(PyObject *obj, Attr *a, PyObject *value) {
    PyObject **slot = slot_of(obj, a);
    if (slot == NULL || Py_TYPE(obj)->tp_setattro != PyObject_GenericSetAttr)
        return PyObject_SetAttr(obj, a->name, value);  /* frozen, or not a slot */
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
    return 0;
}

/* -- small helpers ----------------------------------------------------------------------------*/

/* sz >= ":" : 1, 0, or -1 with an exception (a non-str compares as Python would). */
static int ge_colon(PyObject *sz) {
    if (PyUnicode_CheckExact(sz)) {
        return PyUnicode_GET_LENGTH(sz) > 0 && PyUnicode_READ_CHAR(sz, 0) >= ':';
    }
    PyObject *colon = PyUnicode_FromString(":");
    if (colon == NULL) return -1;
    int r = PyObject_RichCompareBool(sz, colon, Py_GE);
    Py_DECREF(colon);
    return r;
}

/* sz > ZERO_CEILING (live): 1, 0, or -1 with an exception. */
static int is_live(PyObject *sz) {
    if (PyUnicode_CheckExact(sz)) {
        if (PyUnicode_KIND(sz) == PyUnicode_1BYTE_KIND) {  /* the usual case: one memcmp */
            Py_ssize_t n = PyUnicode_GET_LENGTH(sz), m = PyUnicode_GET_LENGTH(zero_ceiling);
            int c = memcmp(PyUnicode_1BYTE_DATA(sz), PyUnicode_1BYTE_DATA(zero_ceiling),
                           (size_t)(n < m ? n : m));
            return c > 0 || (c == 0 && n > m);
        }
        return PyUnicode_Compare(sz, zero_ceiling) > 0;
    }
    return PyObject_RichCompareBool(sz, zero_ceiling, Py_GT);
}

static int as_double(PyObject *o, double *out) {
    if (PyFloat_CheckExact(o)) {
        *out = PyFloat_AS_DOUBLE(o);
        return 0;
    }
    *out = PyFloat_AsDouble(o);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

static PyObject *cell_item(PyObject *cell, Py_ssize_t i) {  /* borrowed */
    if (!PyList_Check(cell) || PyList_GET_SIZE(cell) < 4) {
        PyErr_SetString(PyExc_TypeError, "a book cell must be a list [size, key, price, lower]");
        return NULL;
    }
    return PyList_GET_ITEM(cell, i);
}

static int set_size(PyObject *cell, PyObject *sz) {
    if (cell_item(cell, 0) == NULL) return -1;
    Py_INCREF(sz);
    return PyList_SetItem(cell, 0, sz);
}

static void raise_bad_size(PyObject *level, PyObject *sz) {
    PyObject *px = get(level, &a_px);
    if (px == NULL) return;
    PyObject *exc = PyObject_CallFunctionObjArgs(bad_size_fn, px, sz, NULL);
    Py_DECREF(px);
    if (exc == NULL) return;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
}

/* The cell of level's price (new ref), Py_None for a delete of a price never seen, NULL on
 * error: one dict lookup, or book_side.unknown_price for a price string new to the side. */
static PyObject *find_cell(PyObject *side, PyObject *cells, PyObject *px, PyObject *sz) {
    PyObject *cell = PyDict_GetItemWithError(cells, px);
    if (cell != NULL) {
        Py_INCREF(cell);
        return cell;
    }
    if (PyErr_Occurred()) return NULL;
    return PyObject_CallFunctionObjArgs(unknown_price_fn, side, px, sz, NULL);
}

/* Levels as a list or tuple (read in place) or any iterable (iterated). */
typedef struct {
    PyObject *seq, *it;
    Py_ssize_t i;
} Levels;

static int levels_open(Levels *lv, PyObject *levels) {
    lv->i = 0;
    lv->seq = lv->it = NULL;
    if (PyList_CheckExact(levels) || PyTuple_CheckExact(levels)) {
        Py_INCREF(levels);
        lv->seq = levels;
        return 0;
    }
    lv->it = PyObject_GetIter(levels);
    return lv->it == NULL ? -1 : 0;
}

static PyObject *levels_next(Levels *lv) {  /* new ref; NULL at the end or on error */
    if (lv->seq != NULL) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(lv->seq);
        if (lv->i >= n) return NULL;
        PyObject *item = PySequence_Fast_GET_ITEM(lv->seq, lv->i);
        lv->i++;
        Py_INCREF(item);
        return item;
    }
    return PyIter_Next(lv->it);
}

static void levels_close(Levels *lv) {
    Py_XDECREF(lv->seq);
    Py_XDECREF(lv->it);
}

/* new_prices >= COMPACT_EVERY: 1, 0, -1 on error. */
static int compaction_due(PyObject *side) {
    PyObject *n = get(side, &a_new_prices);
    if (n == NULL) return -1;
    long v = PyLong_AsLong(n);
    Py_DECREF(n);
    if (v == -1 && PyErr_Occurred()) return -1;
    return v >= compact_every;
}

/* -- OrderBook.apply_named, the loop for sides without checksum strings ---------------------*/

static int apply_plain_side(PyObject *book, PyObject *side, PyObject *levels, Attr *best_name,
                            int negate) {
    int rc = -1, r;
    PyObject *cells = NULL, *top_cell = NULL, *top_key_obj = NULL, *old_top = NULL;
    PyObject *level = NULL, *sz = NULL, *px = NULL, *cell = NULL;
    double top_key, key;
    Levels lv;
    if (levels_open(&lv, levels) < 0) return -1;
    if ((cells = get(side, &a_cells)) == NULL) goto done;
    if (!PyDict_CheckExact(cells)) {
        PyErr_SetString(PyExc_TypeError, "BookSide.cells must be a dict");
        goto done;
    }
    if ((top_cell = get(side, &a_top_cell)) == NULL) goto done;
    if ((top_key_obj = get(side, &a_top_key)) == NULL) goto done;
    if (as_double(top_key_obj, &top_key) < 0) goto done;
    old_top = top_cell;
    Py_INCREF(old_top);
    while ((level = levels_next(&lv)) != NULL) {
        if ((sz = get(level, &a_sz)) == NULL) goto done;
        if ((r = ge_colon(sz)) != 0) {  /* no NaN, inf or other word (see book_side) */
            if (r > 0) raise_bad_size(level, sz);
            goto done;
        }
        if ((px = get(level, &a_px)) == NULL) goto done;
        if ((cell = find_cell(side, cells, px, sz)) == NULL) goto done;
        if (cell != Py_None) {  /* else: deleting a price we never had, harmless */
            if (set_size(cell, sz) < 0) goto done;  /* a zero size makes the cell stale */
            PyObject *key_obj = PyList_GET_ITEM(cell, 1);
            if (as_double(key_obj, &key) < 0) goto done;
            if (key > top_key) {  /* nothing above the best is live */
                if ((r = is_live(sz)) < 0) goto done;
                if (r) {
                    Py_INCREF(cell);
                    Py_SETREF(top_cell, cell);
                    Py_INCREF(key_obj);
                    Py_SETREF(top_key_obj, key_obj);
                    top_key = key;
                }
            }
        }
        Py_CLEAR(cell);
        Py_CLEAR(px);
        Py_CLEAR(sz);
        Py_CLEAR(level);
    }
    if (PyErr_Occurred()) goto done;
    r = top_cell == Py_None || top_cell != old_top;
    if (!r) {
        PyObject *size = cell_item(top_cell, 0);
        if (size == NULL || (r = is_live(size)) < 0) goto done;
        r = !r;
    }
    if (!r && (r = compaction_due(side)) < 0) goto done;
    if (r) {
        PyObject *best = PyObject_CallFunctionObjArgs(settle_top_fn, side, top_cell, top_key_obj,
                                                      NULL);
        if (best == NULL) goto done;
        if (negate) {
            Py_SETREF(best, PyNumber_Negative(best));
            if (best == NULL) goto done;
        }
        r = set(book, best_name, best);
        Py_DECREF(best);
        if (r < 0) goto done;
    }
    rc = 0;
done:
    Py_XDECREF(level);
    Py_XDECREF(sz);
    Py_XDECREF(px);
    Py_XDECREF(cell);
    Py_XDECREF(cells);
    Py_XDECREF(top_cell);
    Py_XDECREF(top_key_obj);
    Py_XDECREF(old_top);
    levels_close(&lv);
    return rc;
}

/* -- book_side.apply_named_noting ------------------------------------------------------------*/

/* f"{px}:{sz}" */
static PyObject *make_piece(PyObject *px, PyObject *sz) {
    if (PyUnicode_CheckExact(px) && PyUnicode_CheckExact(sz) && PyUnicode_IS_ASCII(px) &&
        PyUnicode_IS_ASCII(sz)) {
        Py_ssize_t a = PyUnicode_GET_LENGTH(px), b = PyUnicode_GET_LENGTH(sz);
        PyObject *out = PyUnicode_New(a + 1 + b, 127);
        if (out == NULL) return NULL;
        Py_UCS1 *d = PyUnicode_1BYTE_DATA(out);
        memcpy(d, PyUnicode_1BYTE_DATA(px), (size_t)a);
        d[a] = ':';
        memcpy(d + a + 1, PyUnicode_1BYTE_DATA(sz), (size_t)b);
        return out;
    }
    PyObject *fpx = PyObject_Format(px, NULL), *fsz = NULL, *out = NULL;
    if (fpx != NULL && (fsz = PyObject_Format(sz, NULL)) != NULL) {
        out = PyUnicode_FromFormat("%U:%U", fpx, fsz);
    }
    Py_XDECREF(fpx);
    Py_XDECREF(fsz);
    return out;
}

/* bisect_left(neg_keys, x) over a list of floats */
static Py_ssize_t bisect_neg(PyObject *neg_keys, double x) {
    Py_ssize_t lo = 0, hi = PyList_GET_SIZE(neg_keys);
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        double v;
        if (as_double(PyList_GET_ITEM(neg_keys, mid), &v) < 0) return -1;
        if (v < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int del_at(PyObject *list, Py_ssize_t i, Py_ssize_t j) {
    return PyList_SetSlice(list, i, j, NULL);
}

typedef struct {
    PyObject *kept, *neg_keys, *pieces;
    Py_ssize_t n_kept;
    double floor, top_key;
    PyObject *top_cell, *top_key_obj; /* owned */
    int noted, moved;
} Noting;

/* One level at or above the floor: the edit TopStrings.note would make, inline. */
static int note_level(Noting *st, PyObject *cell, PyObject *sz, double key) {
    int r;
    st->noted = 1;
    Py_ssize_t i = bisect_neg(st->neg_keys, -key);
    if (i < 0) return -1;
    if (i < st->n_kept && PyList_GET_ITEM(st->kept, i) == cell) {
        if ((r = is_live(sz)) < 0) return -1;
        if (r) {  /* a new size (or spelling) of a kept level */
            PyObject *piece = make_piece(PyList_GET_ITEM(cell, 2), sz);
            return piece == NULL ? -1 : PyList_SetItem(st->pieces, i, piece);
        }
        if (del_at(st->kept, i, i + 1) < 0 || del_at(st->neg_keys, i, i + 1) < 0 ||
            del_at(st->pieces, i, i + 1) < 0)
            return -1;
        st->n_kept--;
        st->moved = 1;
        return 0;
    }
    if ((r = is_live(sz)) <= 0) return r;
    /* a level coming (back) to life among the kept ones */
    PyObject *neg = PyFloat_FromDouble(-key);
    PyObject *piece = neg == NULL ? NULL : make_piece(PyList_GET_ITEM(cell, 2), sz);
    r = piece == NULL || PyList_Insert(st->kept, i, cell) < 0 ||
        PyList_Insert(st->neg_keys, i, neg) < 0 || PyList_Insert(st->pieces, i, piece) < 0;
    Py_XDECREF(neg);
    Py_XDECREF(piece);
    if (r) return -1;
    st->n_kept++;
    st->moved = 1;
    if (key > st->top_key) {
        Py_INCREF(cell);
        Py_SETREF(st->top_cell, cell);
        Py_INCREF(PyList_GET_ITEM(cell, 1));
        Py_SETREF(st->top_key_obj, PyList_GET_ITEM(cell, 1));
        st->top_key = key;
    }
    return 0;
}

static int noting_loop(PyObject *side, PyObject *cells, PyObject *levels, Noting *st) {
    int rc = -1, r;
    PyObject *level = NULL, *sz = NULL, *px = NULL, *cell = NULL;
    double key;
    Levels lv;
    if (levels_open(&lv, levels) < 0) return -1;
    while ((level = levels_next(&lv)) != NULL) {
        if ((sz = get(level, &a_sz)) == NULL) goto done;
        if ((r = ge_colon(sz)) != 0) {
            if (r > 0) raise_bad_size(level, sz);
            goto done;
        }
        if ((px = get(level, &a_px)) == NULL) goto done;
        if ((cell = find_cell(side, cells, px, sz)) == NULL) goto done;
        if (cell != Py_None) {
            if (set_size(cell, sz) < 0) goto done;
            if (as_double(PyList_GET_ITEM(cell, 1), &key) < 0) goto done;
            if (key >= st->floor && note_level(st, cell, sz, key) < 0) goto done;
        }
        Py_CLEAR(cell);
        Py_CLEAR(px);
        Py_CLEAR(sz);
        Py_CLEAR(level);
    }
    rc = PyErr_Occurred() ? -1 : 0;
done:
    Py_XDECREF(level);
    Py_XDECREF(sz);
    Py_XDECREF(px);
    Py_XDECREF(cell);
    levels_close(&lv);
    return rc;
}

/* After the loop: the lists back to depth (inline, or TopStrings.settle), then the side's best.
 * Returns the side's best key (new ref) as settle_top does. */
static PyObject *finish_noting(PyObject *side, PyObject *ck, PyObject *last, Noting *st) {
    int r;
    if (st->noted) {
        if (set(side, &a_ck_changed, Py_True) < 0) return NULL;
        if (st->moved) {
            PyObject *depth_obj = get(ck, &a_depth);
            if (depth_obj == NULL) return NULL;
            Py_ssize_t depth = PyLong_AsSsize_t(depth_obj);
            Py_DECREF(depth_obj);
            if (depth == -1 && PyErr_Occurred()) return NULL;
            if (st->n_kept > depth) {  /* levels came in: the lists cut back to depth */
                Py_ssize_t n = PyList_GET_SIZE(st->kept);
                if (del_at(st->kept, depth, n) < 0 ||
                    del_at(st->neg_keys, depth, PyList_GET_SIZE(st->neg_keys)) < 0 ||
                    del_at(st->pieces, depth, PyList_GET_SIZE(st->pieces)) < 0)
                    return NULL;
                PyObject *floor = cell_item(PyList_GET_ITEM(st->kept, depth - 1), 1);
                if (floor == NULL || set(ck, &a_floor, floor) < 0) return NULL;
            } else {
                PyObject *res = PyObject_CallMethodOneArg(ck, s_settle, last);
                if (res == NULL) return NULL;
                Py_DECREF(res);
            }
        }
    }
    r = st->top_cell == Py_None;
    if (!r) {
        PyObject *size = cell_item(st->top_cell, 0);
        if (size == NULL || (r = is_live(size)) < 0) return NULL;
        r = !r;
    }
    if (!r && (r = compaction_due(side)) < 0) return NULL;
    if (r) {
        return PyObject_CallFunctionObjArgs(settle_top_fn, side, st->top_cell, st->top_key_obj,
                                            NULL);
    }
    if (set(side, &a_top_cell, st->top_cell) < 0 ||
        set(side, &a_top_key, st->top_key_obj) < 0)
        return NULL;
    Py_INCREF(st->top_key_obj);
    return st->top_key_obj;
}

static PyObject *noting_side(PyObject *side, PyObject *levels, PyObject *bid_side,
                             PyObject *ask_side) {
    PyObject *ck = NULL, *cells = NULL, *last = NULL, *floor_obj = NULL, *out = NULL;
    Noting st = {0};
    double ck_floor;
    if ((ck = get(side, &a_ck)) == NULL) goto done;
    if (ck == Py_None) {
        PyErr_SetString(PyExc_AssertionError, "apply_named_noting: a side without ck");
        goto done;
    }
    if ((cells = get(side, &a_cells)) == NULL) goto done;
    if (!PyDict_CheckExact(cells)) {
        PyErr_SetString(PyExc_TypeError, "BookSide.cells must be a dict");
        goto done;
    }
    if ((st.top_cell = get(side, &a_top_cell)) == NULL) goto done;
    if ((st.top_key_obj = get(side, &a_top_key)) == NULL) goto done;
    if (as_double(st.top_key_obj, &st.top_key) < 0) goto done;
    if ((floor_obj = get(ck, &a_floor)) == NULL) goto done;
    if (as_double(floor_obj, &ck_floor) < 0) goto done;
    st.floor = ck_floor > st.top_key ? st.top_key : ck_floor;
    if ((st.kept = get(ck, &a_kept)) == NULL) goto done;
    if ((st.neg_keys = get(ck, &a_neg_keys)) == NULL) goto done;
    if ((st.pieces = get(ck, &a_pieces)) == NULL) goto done;
    if (!PyList_CheckExact(st.kept) || !PyList_CheckExact(st.neg_keys) ||
        !PyList_CheckExact(st.pieces)) {
        PyErr_SetString(PyExc_TypeError, "TopStrings lists must be lists");
        goto done;
    }
    st.n_kept = PyList_GET_SIZE(st.kept);
    last = st.n_kept ? PyList_GET_ITEM(st.kept, st.n_kept - 1) : Py_None;
    Py_INCREF(last);
    if (noting_loop(side, cells, levels, &st) < 0) {
        /* half applied: the strings are walked afresh */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (set(bid_side, &a_ck, Py_None) == 0) {
            set(ask_side, &a_ck, Py_None);
        }
        PyErr_Restore(type, value, tb);
        goto done;
    }
    out = finish_noting(side, ck, last, &st);
done:
    Py_XDECREF(ck);
    Py_XDECREF(cells);
    Py_XDECREF(last);
    Py_XDECREF(floor_obj);
    Py_XDECREF(st.kept);
    Py_XDECREF(st.neg_keys);
    Py_XDECREF(st.pieces);
    Py_XDECREF(st.top_cell);
    Py_XDECREF(st.top_key_obj);
    return out;
}

/* -- the checksum -----------------------------------------------------------------------------*/

/* The pieces of the interleaved rows (bid, ask, bid, ask, ...; a shorter side simply ends, as
 * zip_longest in checksum.interleaved_checksum), joined with ':' and encoded straight into one
 * bytes object (no str join, no encode), and their CRC32 through the bound crc32. */
static PyObject *checksum(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "checksum(bid_pieces: list, ask_pieces: list)");
        return NULL;
    }
    PyObject *sides[2] = {args[0], args[1]};
    Py_ssize_t rows = PyList_GET_SIZE(sides[0]), total = 0, n;
    if (PyList_GET_SIZE(sides[1]) > rows) rows = PyList_GET_SIZE(sides[1]);
    for (int pass = 0; pass < 2; pass++) {  /* 0: measure, 1: copy */
        PyObject *text = NULL;
        char *out = NULL;
        if (pass) {
            if ((text = PyBytes_FromStringAndSize(NULL, total > 0 ? total - 1 : 0)) == NULL)
                return NULL;
            out = PyBytes_AS_STRING(text);
        }
        Py_ssize_t at = 0;
        for (Py_ssize_t i = 0; i < rows; i++) {
            for (int k = 0; k < 2; k++) {
                if (i >= PyList_GET_SIZE(sides[k])) continue;
                PyObject *piece = PyList_GET_ITEM(sides[k], i);
                const char *s;
                if (!PyUnicode_Check(piece)) {
                    PyErr_SetString(PyExc_TypeError, "checksum pieces must be str");
                    s = NULL;
                } else {
                    s = PyUnicode_AsUTF8AndSize(piece, &n);
                }
                if (s == NULL) {
                    Py_XDECREF(text);
                    return NULL;
                }
                if (!pass) {
                    total += n + 1;
                    continue;
                }
                if (at > 0) out[at++] = ':';
                memcpy(out + at, s, (size_t)n);
                at += n;
            }
        }
        if (!pass) continue;
        PyObject *crc = PyObject_CallOneArg(crc32_fn, text);
        Py_DECREF(text);
        if (crc == NULL) return NULL;
        unsigned long v = PyLong_AsUnsignedLong(crc);
        Py_DECREF(crc);
        if (v == (unsigned long)-1 && PyErr_Occurred()) return NULL;
        return PyLong_FromLong((long)(int32_t)(uint32_t)v);  /* signed, as OKX sends it */
    }
    return NULL; /* not reached */
}

/* -- the two OrderBook methods ---------------------------------------------------------------
 *
 * Installed on the class as method descriptors (methods()), so a call from the feed goes
 * straight here with no Python frame in between. */

/* apply_named(bids, asks, seq_id=-1, ts_exchange=0): positional or by keyword. */
static int parse_apply_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                            PyObject **out) {
    static const char *names[] = {"bids", "asks", "seq_id", "ts_exchange"};
    if (nargs > 4) {
        PyErr_SetString(PyExc_TypeError, "apply_named() takes at most 4 arguments");
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) out[i] = args[i];
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int found = -1;
        for (int i = 0; i < 4; i++) {
            if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) found = i;
        }
        if (found < 0 || out[found] != NULL) {
            PyErr_Format(PyExc_TypeError, "apply_named() got %s keyword argument '%U'",
                         found < 0 ? "an unexpected" : "a repeated", key);
            return -1;
        }
        out[found] = args[nargs + k];
    }
    if (out[0] == NULL || out[1] == NULL) {
        PyErr_SetString(PyExc_TypeError, "apply_named() needs bids and asks");
        return -1;
    }
    return 0;
}

static PyObject *minus_one, *zero;

static PyObject *book_apply_named(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames) {
    PyObject *v[4] = {NULL, NULL, NULL, NULL};
    PyObject *bid_side = NULL, *ask_side = NULL, *bid_ck = NULL, *ask_ck = NULL, *out = NULL;
    if (parse_apply_args(args, nargs, kwnames, v) < 0) return NULL;
    if ((bid_side = get(self, &a_bids)) == NULL || (ask_side = get(self, &a_asks)) == NULL ||
        (bid_ck = get(bid_side, &a_ck)) == NULL || (ask_ck = get(ask_side, &a_ck)) == NULL)
        goto done;
    if (bid_ck != Py_None || ask_ck != Py_None) {
        PyObject *bid = noting_side(bid_side, v[0], bid_side, ask_side);
        if (bid == NULL) goto done;
        PyObject *ask = noting_side(ask_side, v[1], bid_side, ask_side);
        PyObject *neg = ask == NULL ? NULL : PyNumber_Negative(ask);
        int r = neg == NULL || set(self, &a_best_bid_px, bid) < 0 ||
                set(self, &a_best_ask_px, neg) < 0;
        Py_DECREF(bid);
        Py_XDECREF(ask);
        Py_XDECREF(neg);
        if (r) goto done;
    } else if (apply_plain_side(self, bid_side, v[0], &a_best_bid_px, 0) < 0 ||
               apply_plain_side(self, ask_side, v[1], &a_best_ask_px, 1) < 0) {
        goto done;
    }
    if (set(self, &a_seq_id, v[2] ? v[2] : minus_one) < 0 ||
        set(self, &a_ts_exchange, v[3] ? v[3] : zero) < 0)
        goto done;
    out = Py_None;
    Py_INCREF(out);
done:
    Py_XDECREF(bid_side);
    Py_XDECREF(ask_side);
    Py_XDECREF(bid_ck);
    Py_XDECREF(ask_ck);
    return out;
}

/* OrderBook.checksum: the cached CRC while neither side's strings changed, else the pieces
 * CRC'd again; a side without kept strings yet goes to the bound Python (it walks them). */
static PyObject *book_checksum(PyObject *self, PyObject *unused) {
    PyObject *bids = NULL, *asks = NULL, *b = NULL, *a = NULL, *bp = NULL, *ap = NULL;
    PyObject *flag = NULL, *out = NULL;
    int changed = 0, r;
    if ((bids = get(self, &a_bids)) == NULL || (asks = get(self, &a_asks)) == NULL ||
        (b = get(bids, &a_ck)) == NULL || (a = get(asks, &a_ck)) == NULL)
        goto done;
    if (b == Py_None || a == Py_None) {
        out = PyObject_CallOneArg(checksum_afresh_fn, self);
        goto done;
    }
    for (int k = 0; k < 2; k++) {
        if ((flag = get(k ? asks : bids, &a_ck_changed)) == NULL) goto done;
        r = PyObject_IsTrue(flag);
        Py_CLEAR(flag);
        if (r < 0) goto done;
        changed |= r;
    }
    if (!changed) {
        out = get(self, &a_crc);
        goto done;
    }
    if (set(self, &a_parts, Py_None) < 0 || set(bids, &a_ck_changed, Py_False) < 0 ||
        set(asks, &a_ck_changed, Py_False) < 0)
        goto done;
    if ((bp = get(b, &a_pieces)) == NULL || (ap = get(a, &a_pieces)) == NULL) goto done;
    PyObject *pair[2] = {bp, ap};
    if ((out = checksum(NULL, pair, 2)) != NULL && set(self, &a_crc, out) < 0) Py_CLEAR(out);
done:
    Py_XDECREF(bids);
    Py_XDECREF(asks);
    Py_XDECREF(b);
    Py_XDECREF(a);
    Py_XDECREF(bp);
    Py_XDECREF(ap);
    return out;
}

static PyMethodDef book_methods[] = {
    {"apply_named", (PyCFunction)(void (*)(void))book_apply_named, METH_FASTCALL | METH_KEYWORDS,
     "OrderBook.apply_named, compiled (desk.market.native)."},
    {"checksum", (PyCFunction)(void (*)(void))book_checksum, METH_NOARGS,
     "OrderBook.checksum, compiled (desk.market.native)."},
};

/* methods(OrderBook, checksum_afresh) -> (apply_named, checksum) method descriptors */
static PyObject *methods_for(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyType_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "methods(OrderBook, checksum_afresh)");
        return NULL;
    }
    Py_INCREF(args[1]);
    Py_XSETREF(checksum_afresh_fn, args[1]);
    PyObject *apply = PyDescr_NewMethod((PyTypeObject *)args[0], &book_methods[0]);
    PyObject *check = apply == NULL ? NULL : PyDescr_NewMethod((PyTypeObject *)args[0],
                                                                &book_methods[1]);
    PyObject *out = check == NULL ? NULL : PyTuple_Pack(2, apply, check);
    Py_XDECREF(apply);
    Py_XDECREF(check);
    return out;
}

/* -- module -----------------------------------------------------------------------------------*/

static PyObject *bind(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "bind(unknown_price, settle_top, bad_size, crc32, zero_ceiling, "
                        "compact_every)");
        return NULL;
    }
    if (!PyUnicode_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError, "zero_ceiling must be a str");
        return NULL;
    }
    long every = PyLong_AsLong(args[5]);
    if (every == -1 && PyErr_Occurred()) return NULL;
    PyObject **slots[] = {&unknown_price_fn, &settle_top_fn, &bad_size_fn, &crc32_fn,
                          &zero_ceiling};
    for (int i = 0; i < 5; i++) {
        Py_INCREF(args[i]);
        Py_XSETREF(*slots[i], args[i]);
    }
    compact_every = every;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"bind", (PyCFunction)(void (*)(void))bind, METH_FASTCALL,
     "Hand over the pure module's callbacks and constants (once, at import)."},
    {"checksum", (PyCFunction)(void (*)(void))checksum, METH_FASTCALL,
     "Signed CRC32 of two sides' pieces, interleaved and joined with ':'."},
    {"methods", (PyCFunction)(void (*)(void))methods_for, METH_FASTCALL,
     "OrderBook.apply_named and OrderBook.checksum as method descriptors of the class."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "desk.market._book_native",
    "Compiled twin of the OKX book's hot loops (see desk.market.native).", -1, methods,
};

PyMODINIT_FUNC PyInit__book_native(void) {
    for (size_t i = 0; i < sizeof all_attrs / sizeof all_attrs[0]; i++) {
        if ((all_attrs[i]->name = PyUnicode_InternFromString(all_attrs[i]->text)) == NULL)
            return NULL;
    }
    if ((s_settle = PyUnicode_InternFromString("settle")) == NULL) return NULL;
    if ((minus_one = PyLong_FromLong(-1)) == NULL || (zero = PyLong_FromLong(0)) == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL) return NULL;
    if (PyModule_AddStringConstant(m, "SOURCE_HASH", DESK_SOURCE_HASH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
