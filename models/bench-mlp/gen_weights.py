#!/usr/bin/env python3
"""Write models/bench-mlp/model.safetensors: the bench_mlp weights.

The file is committed; this script documents how it was made and regenerates
it byte for byte:  python3 models/bench-mlp/gen_weights.py [OUT]
(standard library only; OUT defaults to model.safetensors next to this file).

Initialisation: PyTorch's default for nn.Linear(in, out), i.e. weight and
bias both uniform on [-1/sqrt(in), 1/sqrt(in)] (kaiming_uniform with a =
sqrt(5) reduces to that bound for the weight).  Draws come from Python's
Mersenne Twister, random.Random(SEED) with SEED = 20241217, whose random()
sequence Python guarantees across versions; the layers are drawn in the order
below, weight (row-major [out, in]) before bias.  Each value is rounded to
the nearest float32.
"""
import json
import math
import os
import random
import struct
import sys

SEED = 20241217

# (name, in, out): concat [mu (2), temb (32)] -> fc1 -> fc2 -> fc3 -> out.
LAYERS = [("fc1", 34, 256), ("fc2", 256, 256), ("fc3", 256, 256), ("out", 256, 2)]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "model.safetensors")
    rng = random.Random(SEED)
    header, blobs, at = {}, [], 0
    for name, n_in, n_out in LAYERS:
        bound = 1.0 / math.sqrt(n_in)
        for suffix, shape in (("weight", [n_out, n_in]), ("bias", [n_out])):
            count = n_out * n_in if suffix == "weight" else n_out
            values = [rng.uniform(-bound, bound) for _ in range(count)]
            blob = struct.pack("<%df" % count, *values)
            header["%s.%s" % (name, suffix)] = {
                "dtype": "F32", "shape": shape, "data_offsets": [at, at + len(blob)]}
            blobs.append(blob)
            at += len(blob)
    header["__metadata__"] = {
        "generator": "models/bench-mlp/gen_weights.py",
        "init": "U(-1/sqrt(in), 1/sqrt(in)) (PyTorch nn.Linear default)",
        "seed": str(SEED)}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
