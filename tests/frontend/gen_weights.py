#!/usr/bin/env python3
"""Write the small binary files used by the front-end tests: .safetensors
weights and .npy atom sets.

The files are committed; this script documents how they were made and
regenerates them byte for byte:  python3 tests/frontend/gen_weights.py
(standard library only).  Weight values are small multiples of 1/8 so they
are exact in F32, F16 and BF16, which test_spec.c relies on.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def values(n, seed):
    """n deterministic multiples of 1/8 in [-2, 2)."""
    return [((seed * 7 + i * 5) % 32 - 16) / 8.0 for i in range(n)]


def encode(dtype, xs):
    if dtype == "F64":
        return struct.pack("<%dd" % len(xs), *xs)
    if dtype == "F32":
        return struct.pack("<%df" % len(xs), *xs)
    if dtype == "F16":
        return struct.pack("<%de" % len(xs), *xs)
    if dtype == "BF16":
        f32 = struct.pack("<%df" % len(xs), *xs)
        return b"".join(f32[i + 2:i + 4] for i in range(0, len(f32), 4))
    raise ValueError(dtype)


def write(path, tensors, truncate=None, data=None):
    """tensors: list of (name, dtype, shape); data from values(), or data[i]
    for tensor i when given.  A name may repeat (the header is written as
    text, not through a dict), for the duplicate-name test."""
    entries, blobs, at = [], [], 0
    for seed, (name, dtype, shape) in enumerate(tensors):
        n = 1
        for d in shape:
            n *= d
        blob = encode(dtype, data[seed] if data else values(n, seed))
        entry = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(blob)]}
        entries.append(json.dumps(name) + ":" + json.dumps(entry, separators=(",", ":")))
        blobs.append(blob)
        at += len(blob)
    text = ("{" + ",".join(entries) + "}").encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    data = struct.pack("<Q", len(text)) + text + b"".join(blobs)
    if truncate is not None:
        data = data[:truncate]
    with open(os.path.join(HERE, path), "wb") as f:
        f.write(data)


NPY_CODES = {"<f4": "f", "<f8": "d", "<i4": "i", "<i8": "q"}


def write_npy(path, descr, shape, xs):
    """A C-order .npy v1.0 file of the given dtype and shape (xs may hold
    fewer values than the shape, for the truncated-file test)."""
    dims = ", ".join("%d" % d for d in shape) + ("," if len(shape) == 1 else "")
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, dims)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    data += struct.pack("<%d%s" % (len(xs), NPY_CODES[descr]), *xs)
    with open(os.path.join(HERE, path), "wb") as f:
        f.write(data)


# The graph used by most bad/ models: concat [mu, time] (3) -> fc1 (4) -> out (2).
TINY = [("fc1.weight", "F32", [4, 3]), ("fc1.bias", "F32", [4]),
        ("out.weight", "F32", [2, 4]), ("out.bias", "F32", [2])]

write("bad/tiny.safetensors", TINY)
write("bad/missing_tensor.safetensors",
      [("fc1.weights", "F32", [4, 3])] + TINY[1:])
write("bad/weight_shape.safetensors",
      [("fc1.weight", "F32", [3, 4])] + TINY[1:])
write("bad/truncated.safetensors", TINY, truncate=100)
write("bad/duplicate_tensor.safetensors", TINY + [("fc1.bias", "F32", [4])])
write("bad/weights_nan.safetensors", [("fc1.weight", "F32", [4, 3])] + TINY[1:],
      data=[[0.5] * 5 + [float("nan")] + [0.5] * 6] + [values(4, 1), values(8, 2), values(2, 3)])
write("bad/weights_inf.safetensors", TINY[:3] + [("out.bias", "F16", [2])],
      data=[values(12, 0), values(4, 1), values(8, 2), [0.5, float("-inf")]])
write("bad/tensor_name_nul.safetensors", TINY + [("fc1.bias\0", "F32", [4])])
write("bad/f64_overflow.safetensors", [("fc1.weight", "F64", [4, 3])] + TINY[1:],
      data=[[0.5] * 7 + [1e300] + [0.5] * 4] + [values(4, 1), values(8, 2), values(2, 3)])

# bad/conv_weight_shape.yaml: conv2d c1 on [4, 9, 9] stored as if C were 3;
# bad/param_shape.yaml: a param [2, 3] stored transposed.
write("bad/conv_weight_shape.safetensors", [
    ("c1.weight", "F32", [8, 3, 3, 3]), ("c1.bias", "F32", [8]),
    ("out.weight", "F32", [4, 8, 3, 3]), ("out.bias", "F32", [4])])
write("bad/param_shape.safetensors", [("p", "F32", [3, 2])])

# good/graph.yaml: every op, mixed dtypes, one dense layer without bias.
write("good/graph.safetensors", [
    ("fc1.weight", "F16", [5, 8]), ("fc1.bias", "F16", [5]),
    ("ln.weight", "F32", [5]), ("ln.bias", "F32", [5]),
    ("fc2.weight", "BF16", [5, 5]),
    ("out.weight", "F32", [3, 5]), ("out.bias", "BF16", [3]),
])

# good/gamma.yaml: five count vectors of shape [2, 2] (integers, as counts
# usually are) with weights 1, 2, 3, 4, 10.
write_npy("good/gamma_atoms.npy", "<i8", [5, 2, 2],
          [0, 1, 2, 3, 4, 5, 6, 7, 10, 0, 0, 10, 1, 1, 1, 1, 20, 15, 3, 0])
write_npy("good/gamma_weights.npy", "<f8", [5], [1, 2, 3, 4, 10])

# bad/: valid atom sets for models whose mistake lies elsewhere, and bad ones.
write_npy("bad/gamma_atoms.npy", "<f4", [3, 2], [0, 1, 2, 3, 4, 5])
write_npy("bad/normal_atoms.npy", "<f4", [3, 2], [-1, 0, 0, 1, 1, 0])
write_npy("bad/gamma_negative.npy", "<f4", [3, 2], [0, 1, 2, -0.5, 4, 5])
write_npy("bad/atoms_shape.npy", "<f4", [3, 5], list(range(15)))
write_npy("bad/weights_zero.npy", "<f4", [3], [0.5, 0, 0.5])
# a header promising 8 * 10^12 bytes: reported as cut off, not as too large
write_npy("bad/atoms_truncated.npy", "<f4", [10**12, 2], [0, 1, 2, 3, 4, 5])
