"""capi.py - ctypes binding of libcapstan-infer for the Python tests.

Loads the shared library named by $CAPSTAN_INFER_LIB (make test-infer sets
it to build/rel/libcapstan-infer.so) and exposes Model.run(feeds), which
returns numpy arrays (strings as object arrays) and, for ZipMap outputs, a
SeqMap holding the keys and the [rows, classes] probabilities."""
import ctypes as C
import os

import numpy as np

MAX_DIMS = 8
NP_OF = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32,
         7: np.int64, 9: np.bool_, 11: np.float64, 12: np.uint32, 13: np.uint64}
TYPE_OF = {np.dtype(v): k for k, v in NP_OF.items()}


class Tensor(C.Structure):
    _fields_ = [("kind", C.c_int), ("type", C.c_int), ("ndim", C.c_int),
                ("dims", C.c_int64 * MAX_DIMS), ("data", C.c_void_p), ("nbytes", C.c_size_t),
                ("key_type", C.c_int), ("nkeys", C.c_int64), ("keys", C.c_void_p),
                ("owned", C.c_int)]


class Info(C.Structure):
    _fields_ = [("name", C.c_char_p), ("kind", C.c_int), ("type", C.c_int), ("key_type", C.c_int),
                ("ndim", C.c_int), ("dims", C.POINTER(C.c_int64)), ("dim_names", C.POINTER(C.c_char_p))]


class Err(C.Structure):
    _fields_ = [("code", C.c_int), ("msg", C.c_char * 256)]


class InferError(Exception):
    def __init__(self, code, msg):
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


_lib = None


def lib():
    global _lib
    if _lib is None:
        path = os.environ.get("CAPSTAN_INFER_LIB") or os.path.join(
            os.path.dirname(__file__), "..", "..", "build", "rel", "libcapstan-infer.so")
        L = C.CDLL(path)
        L.infer_load_file.argtypes = [C.c_char_p, C.POINTER(C.c_void_p), C.POINTER(Err)]
        L.infer_load_buffer.argtypes = [C.c_char_p, C.c_size_t, C.c_char_p, C.POINTER(C.c_void_p), C.POINTER(Err)]
        L.infer_model_free.argtypes = [C.c_void_p]
        L.infer_input_count.argtypes = [C.c_void_p]
        L.infer_output_count.argtypes = [C.c_void_p]
        L.infer_input_info.argtypes = [C.c_void_p, C.c_int, C.POINTER(Info)]
        L.infer_output_info.argtypes = [C.c_void_p, C.c_int, C.POINTER(Info)]
        L.infer_ctx_new.argtypes = [C.c_void_p, C.POINTER(Err)]
        L.infer_ctx_new.restype = C.c_void_p
        L.infer_ctx_free.argtypes = [C.c_void_p]
        L.infer_run.argtypes = [C.c_void_p, C.POINTER(Tensor), C.c_int, C.POINTER(Tensor), C.c_int, C.POINTER(Err)]
        L.infer_tensor_release.argtypes = [C.POINTER(Tensor)]
        L.infer_isa.restype = C.c_char_p
        L.infer_set_isa.argtypes = [C.c_char_p]
        L.infer_set_isa.restype = C.c_char_p
        _lib = L
    return _lib


ISAS = ("avx512", "avx2", "portable")


def isa():
    """the kernel level in force (infer_isa)"""
    return lib().infer_isa().decode()


def set_isa(name):
    """caps the kernel level; returns the level now in force, or None for
    an unknown name (infer_set_isa)"""
    r = lib().infer_set_isa(name.encode() if name is not None else None)
    return r.decode() if r is not None else None


def cpu_isas():
    """the levels this CPU runs, leaving the level in force as it was"""
    was = isa()
    have = [n for n in ISAS if set_isa(n) == n]
    set_isa(was)
    return have


class SeqMap:
    """ZipMap output: one map per row, all with the same keys."""
    def __init__(self, keys, probs):
        self.keys = keys
        self.probs = probs

    def as_dicts(self):
        return [dict(zip(self.keys, row)) for row in self.probs.tolist()]


def _info(fn, m, i):
    inf = Info()
    fn(m, i, C.byref(inf))
    dims = None
    if inf.ndim >= 0:
        dims = [inf.dims[k] if inf.dims[k] >= 0 else None for k in range(inf.ndim)]
    return {"name": inf.name.decode(), "kind": inf.kind, "type": inf.type, "shape": dims}


class Model:
    def __init__(self, path=None, data=None, base_dir=None):
        L = lib()
        self._m = C.c_void_p()
        err = Err()
        if path is not None:
            rc = L.infer_load_file(str(path).encode(), C.byref(self._m), C.byref(err))
        else:
            rc = L.infer_load_buffer(data, len(data), base_dir.encode() if base_dir else None,
                                     C.byref(self._m), C.byref(err))
        if rc != 0:
            raise InferError(rc, err.msg.decode(errors="replace"))
        self._ctx = L.infer_ctx_new(self._m, C.byref(err))
        self.inputs = [_info(L.infer_input_info, self._m, i) for i in range(L.infer_input_count(self._m))]
        self.outputs = [_info(L.infer_output_info, self._m, i) for i in range(L.infer_output_count(self._m))]

    def close(self):
        if self._m:
            lib().infer_ctx_free(self._ctx)
            lib().infer_model_free(self._m)
            self._m = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def run(self, feeds):
        L = lib()
        n = len(self.inputs)
        ins = (Tensor * max(n, 1))()
        keep = []
        for i, inf in enumerate(self.inputs):
            a = feeds[inf["name"]]
            if a.dtype == object or a.dtype.kind in "US":
                flat = [str(s).encode() for s in a.reshape(-1)]
                arr = (C.c_char_p * max(len(flat), 1))(*flat)
                keep.append(arr)
                ins[i].type = 8
                ins[i].data = C.cast(arr, C.c_void_p)
            else:
                a = np.asarray(a)
                if not a.flags.c_contiguous:
                    a = a.copy(order="C")   # ascontiguousarray would make 0-d arrays 1-d
                keep.append(a)
                ins[i].type = TYPE_OF[a.dtype]
                ins[i].data = a.ctypes.data
                ins[i].nbytes = a.nbytes
            ins[i].ndim = a.ndim
            for k, d in enumerate(a.shape):
                ins[i].dims[k] = d
        nout = len(self.outputs)
        outs = (Tensor * max(nout, 1))()
        err = Err()
        rc = L.infer_run(self._ctx, ins, n, outs, nout, C.byref(err))
        if rc != 0:
            raise InferError(rc, err.msg.decode(errors="replace"))
        res = []
        for i in range(nout):
            t = outs[i]
            shape = tuple(t.dims[k] for k in range(t.ndim))
            count = int(np.prod(shape)) if shape else 1
            if t.type == 8:
                ptrs = C.cast(t.data, C.POINTER(C.c_char_p))
                arr = np.array([ptrs[k].decode() for k in range(count)], dtype=object).reshape(shape)
            else:
                dt = np.dtype(NP_OF[t.type])
                buf = C.string_at(t.data, count * dt.itemsize) if count else b""
                arr = np.frombuffer(buf, dtype=dt).reshape(shape).copy()
            if t.kind == 1:
                if t.key_type == 8:
                    kp = C.cast(t.keys, C.POINTER(C.c_char_p))
                    keys = [kp[k].decode() for k in range(t.nkeys)]
                else:
                    kp = C.cast(t.keys, C.POINTER(C.c_int64))
                    keys = [kp[k] for k in range(t.nkeys)]
                arr = SeqMap(keys, arr)
            L.infer_tensor_release(C.byref(outs[i]))
            res.append(arr)
        return res
