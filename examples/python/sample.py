#!/usr/bin/python3
"""Samples from a model compiled as a shared library, in Python (examples/README.md):

    pmmc build models/words50/model.yaml --emit=shared -o libs
    PYTHONPATH=python /usr/bin/python3 examples/python/sample.py libs/libwords50.so -n 5 -s 7

prints samples FIRST_INDEX .. FIRST_INDEX + N - 1 of the library's model as a sampler
executable built with --gemm=llvm prints them (`--format txt` for a model with a vocabulary,
else `--format csv` without its '#' line), or with -o writes them to an .npy file, the bits of
the executable's `-o FILE.npy`.

The binding is pmm.Sampler (python/pmm/embedded.py): ctypes on the library's NAME_* functions,
NumPy arrays in and out.
"""
import argparse
import sys

import numpy as np

import pmm


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("library", help="libNAME.so or libNAME.so.1 from pmmc build --emit=shared")
    ap.add_argument("-n", "--num-samples", type=int, default=8)
    ap.add_argument("-s", "--seed", type=int, default=0)
    ap.add_argument("--first-index", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="0: one per CPU")
    ap.add_argument("--name", help="the functions' prefix (default: NAME of libNAME.so)")
    ap.add_argument("-o", "--output", help="an .npy file to write instead of printing")
    args = ap.parse_args()
    try:
        with pmm.Sampler(args.library, name=args.name) as model:
            x = model.sample(args.num_samples, seed=args.seed, first_index=args.first_index,
                             threads=args.threads)
            if args.output:
                np.save(args.output, x)
            elif model.info["vocab"] is not None:
                for word in model.decode(x):
                    print(word)
            else:
                for row in x.reshape(len(x), model.info["sample_elems"]):
                    print(",".join("%.9g" % v for v in row))
    except (OSError, ValueError, pmm.SamplerError) as e:
        sys.exit(f"sample.py: {e}")


if __name__ == "__main__":
    main()
