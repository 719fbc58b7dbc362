"""Count data for the gamma-poisson model: Fashion-MNIST at 7x7 as photon counts.

    /usr/bin/python3 models/fashion-counts/make_data.py --out-dir DIR

Each 28x28 image of Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)
becomes a 7x7 image of counts: the sum of each 4x4 block's pixel intensities (0..1),
rounded to the nearest integer (0..16), as a low-light camera would count photons.
Writes DIR/train.npy (60,000 training images) and DIR/test.npy (10,000 test images,
the held-out data), float32 [N, 1, 7, 7].
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
from pmm.data import read_idx  # noqa: E402

FOLDER = Path("/usr/share/datasets/fashion-mnist")


def counts(images):
    """uint8 [N, 28, 28] -> float32 counts [N, 1, 7, 7]."""
    blocks = images.reshape(-1, 7, 4, 7, 4).astype(np.float64) / 255.0
    return np.rint(blocks.sum((2, 4))).astype(np.float32)[:, None]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(FOLDER),
                        help="folder of the Fashion-MNIST IDX files (dataset-fashion-mnist)")
    parser.add_argument("--out-dir", required=True, help="folder for train.npy and test.npy")
    args = parser.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, idx in (("train", "train-images-idx3-ubyte.gz"),
                      ("test", "t10k-images-idx3-ubyte.gz")):
        path = Path(args.images) / idx
        if not path.exists():
            parser.error(f"{path}: no such file (sudo apt-get install dataset-fashion-mnist)")
        data = counts(read_idx(path))
        np.save(out / f"{name}.npy", data)
        print(f"{out / name}.npy: {data.shape[0]} images of 7x7 counts, mean "
              f"{data.mean():.3f}, max {data.max():.0f}")


if __name__ == "__main__":
    main()
