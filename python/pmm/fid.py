"""A small Fashion-MNIST classifier whose features give the FID of models/fashion.

    /usr/bin/python3 -m pmm.fid train --out models/fashion/classifier.safetensors

The Frechet inception distance needs features of a network trained on the data; Inception
v3 is neither in Debian nor sized for 28x28 grey images, so, as is usual for MNIST-like
data, a small CNN trained on Fashion-MNIST's training set stands in for it: two 3x3
convolutions (32 and 64 channels, ReLU, 2x2 max pooling), a dense layer of 128 (ReLU, the
features) and a dense layer to the 10 classes. Images are in [-1, 1], as the model's data.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import read_idx
from .safetensors import load_weights, save_weights

FOLDER = Path("/usr/share/datasets/fashion-mnist")


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU())
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        return self.head(self.body(x))

    @torch.no_grad()
    def features(self, images, batch=500):
        """The 128 features of images [N, 1, 28, 28] (or [N, 28, 28]) in [-1, 1]."""
        self.eval()
        x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)
        return torch.cat([self.body(x[i:i + batch]) for i in range(0, len(x), batch)]).numpy()

    @torch.no_grad()
    def accuracy(self, images, labels, batch=500):
        self.eval()
        x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)
        hits = sum((self(x[i:i + batch]).argmax(1).numpy() == labels[i:i + batch]).sum()
                   for i in range(0, len(x), batch))
        return hits / len(x)


def fashion(split, folder=FOLDER):
    """(images float32 [N, 1, 28, 28] in [-1, 1], labels int64 [N]) of 'train' or 'test'."""
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(Path(folder) / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(Path(folder) / f"{prefix}-labels-idx1-ubyte.gz")
    x = images.astype(np.float32)[:, None] / 127.5 - 1.0
    return x, labels.astype(np.int64)


def load_classifier(path):
    net = Classifier()
    net.load_state_dict(load_weights(path))
    return net.eval()


def train_classifier(epochs=3, batch=128, lr=1e-3, seed=1, log=sys.stderr):
    """Adam on the training set, one pass in a random order an epoch; returns the net."""
    torch.manual_seed(seed)
    x, y = fashion("train")
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    net = Classifier()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=generator)
        started, total = time.monotonic(), 0.0
        for i in range(0, len(x), batch):
            rows = order[i:i + batch]
            loss = nn.functional.cross_entropy(net(x[rows]), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f} "
              f"({time.monotonic() - started:.0f} s)", file=log)
    return net.eval()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m pmm.fid",
                                     description="Train the FID feature classifier.")
    parser.add_argument("command", choices=["train"])
    parser.add_argument("--out", required=True, help="safetensors file to write")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    net = train_classifier(args.epochs, seed=args.seed)
    test_x, test_y = fashion("test")
    accuracy = net.accuracy(test_x, test_y)
    save_weights(net, args.out, {"test_accuracy": f"{accuracy:.4f}", "epochs": args.epochs,
                                 "seed": args.seed})
    print(f"wrote {args.out}: test accuracy {accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
