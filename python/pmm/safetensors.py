"""The safetensors format, as pmmc reads and writes it (compiler/front/safetensors.c).

A file is an 8-byte little-endian header length, a JSON header mapping each tensor name
to its dtype, shape and [begin, end) byte offsets into the data, then the data. The
tensors must cover the data exactly: contiguous, no overlap, no holes.
"""
import json
import math
import os
import struct

import numpy as np
import torch

from .files import write_atomically

# bfloat16 has no NumPy dtype: it is read as the high half of a float32's bits.
_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"),
           "BF16": np.dtype("<u2")}


def save_weights(tensors, path, metadata=None, dtype="F32"):
    """Write tensors (an nn.Module's state_dict or a name -> tensor mapping) as F32 or BF16.

    Tensors are written in name order, one after the other. The header is padded with
    spaces to a multiple of 8 so the data is aligned, as pmmc writes it. BF16 rounds each
    float32 to the nearest bfloat16 (ties to even). The file is written under a temporary
    name and renamed, so no reader sees half a file.
    """
    if dtype not in ("F32", "BF16"):
        raise ValueError(f"dtype {dtype!r}, expected F32 or BF16")
    if isinstance(tensors, torch.nn.Module):
        tensors = tensors.state_dict()
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}} if metadata else {}
    blobs, at = [], 0
    for name in sorted(tensors):
        array = tensors[name].detach().cpu().to(torch.float32).numpy()
        if dtype == "BF16":
            array = _to_bfloat16_bits(array)
        blob = np.ascontiguousarray(array, dtype=_DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [at, at + len(blob)]}
        blobs.append(blob)
        at += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)

    def write(f):
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    write_atomically(path, write)


def _to_bfloat16_bits(array):
    """The bfloat16 nearest each float32 (ties to even; NaN stays NaN), as uint16 bits."""
    bits = np.ascontiguousarray(array, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = np.isnan(array)
    rounded[nan] = (bits[nan] >> 16) | 0x40
    return rounded.astype("<u2")


def load_weights(path):
    """Read a safetensors file: a dict of float32 tensors in name order.

    F32, F16, BF16 and F64 are converted to float32. Raises ValueError naming the file
    when the header or the layout is not valid.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for the header length")
    (hlen,) = struct.unpack_from("<Q", raw)
    if hlen == 0 or hlen > len(raw) - 8:
        raise ValueError(f"{path}: header length {hlen} does not fit a file of {len(raw)} bytes")
    try:
        header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header is not a JSON object")
    data = raw[8 + hlen:]
    entries = sorted((_entry(path, name, spec, len(data))
                      for name, spec in header.items() if name != "__metadata__"),
                     key=lambda e: (e[3], e[4]))
    _check_layout(path, entries, len(data))
    return {name: _tensor(data, dtype, shape, begin, end)
            for name, dtype, shape, begin, end in sorted(entries)}


def _entry(path, name, spec, data_size):
    """(name, dtype, shape, begin, end) of one header entry, checked."""
    if not isinstance(spec, dict) or not {"dtype", "shape", "data_offsets"} <= spec.keys():
        raise ValueError(f"{path}: tensor '{name}' is not an object with dtype, shape and "
                         "data_offsets")
    dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if dtype not in _DTYPES:
        raise ValueError(f"{path}: tensor '{name}' has dtype {dtype!r}, expected one of "
                         f"{', '.join(sorted(_DTYPES))}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise ValueError(f"{path}: tensor '{name}' has shape {shape!r}, expected a list of "
                         "non-negative integers")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_count, offsets))
            or not offsets[0] <= offsets[1] <= data_size):
        raise ValueError(f"{path}: tensor '{name}' has data_offsets {offsets!r}, expected "
                         f"[begin, end] with begin <= end <= {data_size}")
    begin, end = offsets
    if math.prod(shape) * _DTYPES[dtype].itemsize != end - begin:
        raise ValueError(f"{path}: tensor '{name}' ({dtype}, shape {shape}) does not match its "
                         f"data_offsets, which span {end - begin} bytes")
    return name, dtype, tuple(shape), begin, end


def _is_count(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _check_layout(path, entries, data_size):
    """The tensors, in offset order, must cover the data exactly."""
    at = 0
    for name, _, _, begin, end in entries:
        if begin != at:
            raise ValueError(f"{path}: tensor '{name}' starts at data byte {begin}, expected "
                             f"{at} (tensors must cover the data contiguously)")
        at = end
    if at != data_size:
        raise ValueError(f"{path}: {data_size - at} bytes of data after the last tensor belong "
                         "to no tensor")


def _tensor(data, dtype, shape, begin, end):
    element = _DTYPES[dtype]
    array = np.frombuffer(data, dtype=element, count=(end - begin) // element.itemsize,
                          offset=begin)
    if dtype == "BF16":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return torch.from_numpy(array.astype(np.float32).reshape(shape))
