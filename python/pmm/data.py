"""Training data: IDX (the MNIST format, gzip'd or not), .npy arrays and text lines.

    x = pmm.data.load_data("train-images-idx3-ubyte.gz", chain, scale=1/127.5, shift=-1)

returns a float32 tensor [N, *data shape] (numeric pairs) or an int64 tensor [N, L] of
symbol indices (dirichlet-categorical). Numeric rows are reshaped to the data shape when
their element count matches ([N, 28, 28] images for data shape [1, 28, 28]) and mapped
x -> scale x + shift. Text is read one sequence a line through the model's vocabulary:
a line that does not fit (a symbol outside the vocabulary, longer than L, or shorter
than L without `data.padding`) is counted and skipped with one warning.
"""
import gzip
import struct
import warnings
from pathlib import Path

import numpy as np
import torch

# IDX element types: the third byte of the magic number.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
TEXT_SUFFIXES = (".txt", ".text", ".lines")


def read_idx(path):
    """The array of an IDX file (gzip'd when it starts with gzip's magic number)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (its magic number is {raw[:4].hex()})")
    dims = raw[3]
    if dims < 1 or len(raw) < 4 + 4 * dims:
        raise ValueError(f"{path}: IDX header with {dims} dimensions is cut short")
    shape = struct.unpack(f">{dims}I", raw[4:4 + 4 * dims])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    count = int(np.prod(shape, dtype=np.int64))
    begin = 4 + 4 * dims
    if len(raw) != begin + count * dtype.itemsize:
        raise ValueError(f"{path}: IDX data of {len(raw) - begin} bytes, expected "
                         f"{count * dtype.itemsize} for shape {list(shape)}")
    return np.frombuffer(raw, dtype, count, begin).reshape(shape)


def encode_lines(lines, vocab, length, padding):
    """Symbol indices [N, length] of the sequences that fit (padded with symbol 0 when
    `padding`), and the number skipped."""
    index = {symbol: i for i, symbol in enumerate(vocab)}
    rows, skipped = [], 0
    for text in lines:
        codes = [index.get(symbol) for symbol in text]
        fits = (text and None not in codes and len(codes) <= length
                and (padding or len(codes) == length))
        if not fits:
            skipped += 1
            continue
        rows.append(codes + [0] * (length - len(codes)))
    return np.array(rows, dtype=np.int64).reshape(-1, length), skipped


def read_lines(path, vocab, length, padding):
    """encode_lines of a text file's lines."""
    with open(path, encoding="utf-8") as f:
        return encode_lines((line.rstrip("\n") for line in f), vocab, length, padding)


def load_data(path, chain, vocab=None, padding=False, scale=1.0, shift=0.0):
    """The training examples of `path` for a Chain (pmm.Chain), as a torch tensor."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such data file")
    if chain.categorical and path.suffix in TEXT_SUFFIXES:
        array, skipped = read_lines(path, vocab, chain.data_shape[0], padding)
        if skipped:
            warnings.warn(f"{path}: skipped {skipped} line(s) that do not fit the model "
                          f"(symbols outside {vocab!r}, or not {chain.data_shape[0]} long"
                          f"{' at most' if padding else ''})", stacklevel=2)
    elif path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    else:
        array = read_idx(path)
    if array.ndim < 1 or array.shape[0] == 0:
        raise ValueError(f"{path}: no examples")
    per_row = int(np.prod(chain.data_shape))
    if array[0].size != per_row:
        raise ValueError(f"{path}: rows of shape {list(array.shape[1:])} do not fit the "
                         f"model's data shape {list(chain.data_shape)}")
    array = array.reshape(array.shape[0], *chain.data_shape)
    if chain.categorical:
        if not np.issubdtype(array.dtype, np.integer) and not np.all(array == np.round(array)):
            raise ValueError(f"{path}: dirichlet-categorical data must be symbol indices")
        if array.min() < 0 or array.max() >= chain.vocab_size:
            raise ValueError(f"{path}: symbol indices outside 0..{chain.vocab_size - 1}")
        return torch.from_numpy(array.astype(np.int64))
    x = array.astype(np.float64) * scale + shift
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{path}: data holds values that are not finite")
    if chain.pair == "gamma-poisson" and x.min() < 0:
        raise ValueError(f"{path}: gamma-poisson data must be >= 0 (found {x.min():g})")
    return torch.from_numpy(x.astype(np.float32))
