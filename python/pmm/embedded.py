"""A model compiled as a shared library (`pmmc build --emit=shared`, docs/embedding.md) used
from Python through ctypes, with NumPy arrays in and out.

    with pmm.Sampler("out/libgmm8.so") as s:
        x = s.sample(1000, seed=7)            # float32 [1000, *s.info["shape"]]
        print(s.info["pair"], x.mean(axis=0))

Sample i depends only on (library, seed, i): the bits of the sampler executable built with
the same options, `-s SEED --first-index I` (docs/embedding.md). Any non-OK status of the
library raises SamplerError with the library's own description of it.
"""
import ctypes
import os
import re

import numpy as np

# The layout of NAME_info and NAME_params this binding declares; the library refuses to open
# for a caller of another version (NAME_ERR_VERSION), so the layouts cannot silently differ.
API_VERSION = 1
ERR_UNSUPPORTED = 7

_STRINGS = ("name", "pair", "sampler", "output", "schedule", "engine", "target", "weight_hash",
            "vocab", "build_id")


class _Info(ctypes.Structure):
    _fields_ = ([(f, ctypes.c_char_p) for f in _STRINGS]
                + [(f, ctypes.c_uint64) for f in ("steps", "rank")]
                + [("shape", ctypes.c_uint64 * 4)]
                + [(f, ctypes.c_uint64) for f in ("sample_elems", "block_size", "workspace_bytes",
                                                  "workspace_align", "weight_bytes",
                                                  "flops_per_sample", "vocab_size")]
                + [("pad_symbol", ctypes.c_int64)]
                + [(f, ctypes.c_uint64) for f in ("predict_in_elems", "predict_out_elems")]
                + [(f, ctypes.c_double) for f in ("range_lo", "range_hi")])


class _Params(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("api_version", ctypes.c_uint32),
                ("build_id", ctypes.c_char_p),  # NULL: any build (there is no header to match)
                ("alloc", ctypes.c_void_p), ("free", ctypes.c_void_p),
                ("alloc_ctx", ctypes.c_void_p),
                ("weights_data", ctypes.c_void_p), ("weights_size", ctypes.c_uint64),
                ("weights_path", ctypes.c_char_p)]


class SamplerError(RuntimeError):
    """A call into the library answered a status other than OK; `status` holds it."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


_FLOATS = ctypes.POINTER(ctypes.c_float)
_SIZE, _U64, _VOIDP = ctypes.c_size_t, ctypes.c_uint64, ctypes.c_void_p
_PROTOTYPES = {
    "open": (ctypes.c_int32, [ctypes.POINTER(_Params), ctypes.POINTER(_VOIDP), ctypes.c_char_p,
                              _SIZE]),
    "close": (None, [_VOIDP]),
    "get_info": (ctypes.c_int32, [ctypes.POINTER(_Info)]),
    "status_string": (ctypes.c_char_p, [ctypes.c_int32]),
    "sample_mt": (ctypes.c_int32, [_VOIDP, ctypes.c_uint32, _U64, _U64, _SIZE, _FLOATS, _SIZE]),
    "predict": (ctypes.c_int32, [_VOIDP, _VOIDP, _SIZE, _FLOATS, _FLOATS, _SIZE, _FLOATS, _SIZE]),
}


def _prefix(path):
    """NAME of lib<NAME>.so or lib<NAME>.so.1, as pmmc --emit=shared names them."""
    m = re.fullmatch(r"lib(\w+)\.so(\.\d+)*", os.path.basename(os.fspath(path)))
    if not m:
        raise ValueError(f"cannot tell the model's prefix from '{path}' (not lib<NAME>.so): "
                         "pass name=")
    return m.group(1)


def _check_unsigned(value, what, bits):
    """ctypes would wrap a negative or too large integer around instead of refusing it."""
    if not isinstance(value, (int, np.integer)) or not 0 <= value < 1 << bits:
        raise ValueError(f"{what} must be an integer from 0 to 2^{bits}-1, not {value!r}")


def _floats(a):
    return a.ctypes.data_as(_FLOATS)


class Sampler:
    """The model in the shared library at `path`, its functions prefixed `name` (default:
    from the file name); `weights`: the NAME.weights file of a library built with
    --weights=external. One Sampler may be used from several threads at once."""

    def __init__(self, path, name=None, weights=None):
        self._handle = None
        self.name = name or _prefix(path)
        self._lib = ctypes.CDLL(os.fspath(path))
        self._fn = {}
        for suffix, (restype, argtypes) in _PROTOTYPES.items():
            try:
                fn = getattr(self._lib, f"{self.name}_{suffix}")
            except AttributeError:
                raise ValueError(f"'{path}' has no function {self.name}_{suffix}: is it a "
                                 f"library pmmc built, and is '{self.name}' its prefix?") from None
            fn.restype, fn.argtypes = restype, argtypes
            self._fn[suffix] = fn
        # Opened before get_info, whose struct is only ours once open has accepted API_VERSION.
        params = _Params(ctypes.sizeof(_Params), API_VERSION)
        if weights is not None:
            params.weights_path = os.fsencode(weights)
        handle, err = _VOIDP(), ctypes.create_string_buffer(512)
        status = self._fn["open"](ctypes.byref(params), ctypes.byref(handle), err, len(err))
        if status != 0:
            raise SamplerError(f"{self.name}_open: {err.value.decode()}", status)
        self._handle = handle
        info = _Info()
        self._check(self._fn["get_info"](ctypes.byref(info)), "get_info")
        self.info = {f: getattr(info, f).decode() if getattr(info, f) is not None else None
                     for f in _STRINGS}
        self.info.update({f: getattr(info, f) for f, _ in _Info._fields_ if f not in _STRINGS})
        self.info["shape"] = tuple(info.shape[:info.rank])

    def _check(self, status, fn):
        if status != 0:
            message = self._fn["status_string"](status).decode()
            raise SamplerError(f"{self.name}_{fn}: {message}", status)

    def _open_handle(self):
        if self._handle is None:
            raise ValueError(f"the Sampler of '{self.name}' is closed")
        return self._handle

    def sample(self, n, seed=0, first_index=0, threads=0):
        """Samples first_index .. first_index + n - 1 as float32 [n, *info["shape"]], on
        `threads` threads (0: one per CPU); the same bits whatever n, first_index and threads.
        Dirichlet-categorical samples hold symbol indices (decode() turns them into text)."""
        for value, what, bits in ((n, "n", 63), (seed, "seed", 64),
                                  (first_index, "first_index", 64), (threads, "threads", 32)):
            _check_unsigned(value, what, bits)
        out = np.empty((n, *self.info["shape"]), dtype=np.float32)
        self._check(self._fn["sample_mt"](self._open_handle(), threads, seed, first_index, n,
                                          _floats(out), out.size), "sample_mt")
        return out

    def predict(self, mu, tau):
        """The network alone, as `pmmc predict`: mu [n, ...] (info["predict_in_elems"] floats a
        row), tau [n]; returns float32 [n, *mu.shape[1:]] when the network's output has mu's
        size, else [n, info["predict_out_elems"]]. SamplerError with status ERR_UNSUPPORTED
        for a model without a network."""
        handle = self._open_handle()
        n_in, n_out = self.info["predict_in_elems"], self.info["predict_out_elems"]
        if n_in == 0:
            # The library answers ERR_UNSUPPORTED before it looks at the arguments.
            self._check(self._fn["predict"](handle, None, 0, None, None, 0, None, 0), "predict")
        mu = np.ascontiguousarray(mu, dtype=np.float32)
        tau = np.ascontiguousarray(tau, dtype=np.float32).reshape(-1)
        if mu.ndim < 1 or np.prod(mu.shape[1:]) != n_in or len(tau) != len(mu):
            raise ValueError(f"predict takes mu [n, ...] with {n_in} floats a row and tau [n]; "
                             f"got mu {mu.shape} and tau of {len(tau)}")
        n = len(mu)
        out = np.empty((n, *mu.shape[1:]) if n_out == n_in else (n, n_out), dtype=np.float32)
        # Each call has its own workspace: ctypes lets go of the GIL, so calls may overlap.
        ws_bytes, align = self.info["workspace_bytes"], self.info["workspace_align"]
        buf = np.empty(ws_bytes + align, dtype=np.uint8)
        ws = buf[-buf.ctypes.data % align:][:ws_bytes]
        self._check(self._fn["predict"](handle, ws.ctypes.data, ws_bytes, _floats(mu),
                                        _floats(tau), n, _floats(out), out.size), "predict")
        return out

    def decode(self, samples):
        """Dirichlet-categorical samples [n, L] as n strings through info["vocab"], trailing
        padding dropped, as the sampler's `--format txt` prints them."""
        vocab, pad = self.info["vocab"], self.info["pad_symbol"]
        if vocab is None:
            raise ValueError(f"model '{self.name}' ({self.info['pair']}) has no vocabulary")
        x = np.asarray(samples)
        x = x.reshape(len(x), int(np.prod(x.shape[1:])))
        index = x.astype(np.int64)
        if not (np.array_equal(index, x) and ((index >= 0) & (index < len(vocab))).all()):
            raise ValueError(f"not symbol indices 0 to {len(vocab) - 1}")
        words = []
        for row in index:
            kept = np.flatnonzero(row != pad)
            words.append("".join(vocab[k] for k in row[:kept[-1] + 1 if len(kept) else 0]))
        return words

    def close(self):
        """Release the handle; the Sampler cannot sample afterwards. Closing twice is fine."""
        if self._handle is not None:
            self._fn["close"](self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # __init__ may have failed before the handle or the functions existed.
        if getattr(self, "_handle", None) is not None:
            self.close()
