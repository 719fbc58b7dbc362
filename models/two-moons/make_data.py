"""Two-moons data: two interleaved half circles in the plane with Gaussian noise.

    /usr/bin/python3 models/two-moons/make_data.py -n 50000 --seed 1 -o two-moons.npy

Half the points (rounded down) lie on the upper moon (cos s, sin s), the rest on the
lower moon (1 - cos s, 1/2 - sin s), s uniform on [0, pi]; every point then gets
N(0, noise^2) added to each coordinate (noise 0.1 by default, as scikit-learn's
make_moons(noise=0.1)). Rows are shuffled. Written as float32 [n, 2] .npy.
"""
import argparse

import numpy as np


def two_moons(n, seed, noise=0.1):
    rng = np.random.default_rng(seed)
    upper = n // 2
    s = rng.uniform(0.0, np.pi, n)
    x = np.where(np.arange(n) < upper, np.cos(s), 1.0 - np.cos(s))
    y = np.where(np.arange(n) < upper, np.sin(s), 0.5 - np.sin(s))
    points = np.stack([x, y], 1) + rng.normal(0.0, noise, (n, 2))
    return points[rng.permutation(n)].astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50000, help="points (default 50000)")
    parser.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    parser.add_argument("--noise", type=float, default=0.1, help="noise std (default 0.1)")
    parser.add_argument("-o", "--output", required=True, help=".npy file to write")
    args = parser.parse_args()
    np.save(args.output, two_moons(args.n, args.seed, args.noise))


if __name__ == "__main__":
    main()
