"""The layers of a graph network: their keys, shapes, tensors and PyTorch semantics.

Shapes are per sample (no batch axis), as in the YAML; every axis, perm and shape key
counts per-sample axes. At run time tensors carry the batch axis in front, so
per-sample axis a is torch dim a + 1.
"""
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REQUIRED = object()

ACTIVATIONS = {
    "none": lambda x: x,
    "relu": torch.relu,
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu-tanh": functools.partial(F.gelu, approximate="tanh"),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
}


# ---- key checks: each returns the value or raises ValueError saying what is expected --------

def _integer(value, low):
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"expected an integer >= {low}")
    return value


def _count(value):
    return _integer(value, 1)


def _index(value):
    return _integer(value, 0)


def _axis(value):
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("expected an integer (negative counts from the end)")
    return value


def _positive(value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
            math.isfinite(value) and value > 0):
        raise ValueError("expected a finite number > 0")
    return float(value)


def _bool(value):
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _choice(*names):
    def check(value):
        if value not in names:
            raise ValueError(f"expected one of {', '.join(names)}")
        return value
    return check


def _int_list(check):
    def check_list(value):
        if not isinstance(value, list) or not value:
            raise ValueError("expected a non-empty list of integers")
        return tuple(check(v) for v in value)
    return check_list


def _extent(value):
    """A reshape extent: >= 1, or -1 for the one inferred."""
    return -1 if isinstance(value, int) and value == -1 else _count(value)


_activation = _choice(*ACTIVATIONS)


# ---- layers ----------------------------------------------------------------------------------

class Layer:
    """One layer: its input names, checked keys and per-sample output shape (`dims`).

    A subclass declares KEYS (key -> (check, default or REQUIRED)) and INPUTS (the keys
    naming input layers; `inputs` holds a list). out_dims computes the output shape
    from the input shapes and settles what depends on them (negative axes, the default
    padding); make creates the tensors and run computes the value.
    """
    KEYS = {}
    INPUTS = ("input",)

    def __init__(self, name, op, inputs, in_dims, args):
        self.name, self.op, self.inputs, self.in_dims = name, op, inputs, in_dims
        for key, (check, default) in self.KEYS.items():
            if key in args:
                try:
                    value = check(args[key])
                except ValueError as e:
                    raise self.error(f"found {args[key]!r} for '{key}', {e}") from None
            elif default is REQUIRED:
                raise self.error(f"missing key '{key}'")
            else:
                value = default
            setattr(self, key, value)
        self.dims = tuple(self.out_dims(*in_dims))

    def error(self, message):
        return ValueError(f"layer '{self.name}' ({self.op}): {message}")

    def out_dims(self, x):
        return x

    def make(self, has):
        """The layer's tensors: an nn.Module, an nn.Parameter or None.

        has(suffix) says whether the optional tensor `<name>.<suffix>` (a bias) exists.
        """
        return None

    def run(self, tensors, *xs):
        """The layer's output from its tensors and inputs; every op class defines it."""
        raise TypeError(f"op {self.op!r} has no forward")

    def resolve_axis(self, axis, rank):
        """A per-sample axis counted from 0."""
        if not -rank <= axis < rank:
            raise self.error(f"axis {axis} is out of range for rank {rank}")
        return axis % rank

    def image(self, x):
        if len(x) != 3:
            raise self.error(f"input '{self.inputs[0]}' has shape {list(x)}, expected [C, H, W]")
        return x


class Conv2d(Layer):
    KEYS = {"channels": (_count, REQUIRED), "kernel": (_count, REQUIRED), "stride": (_count, 1),
            "padding": (_index, None), "groups": (_count, 1), "activation": (_activation, "none")}

    def out_dims(self, x):
        c, h, w = self.image(x)
        if self.padding is None:
            self.padding = (self.kernel - 1) // 2
        if c % self.groups or self.channels % self.groups:
            raise self.error(f"groups {self.groups} must divide the input channels ({c}) and "
                             f"the output channels ({self.channels})")
        if min(h, w) + 2 * self.padding < self.kernel:
            raise self.error(f"kernel {self.kernel} is larger than the padded input {list(x)}")
        return (self.channels,
                *((n + 2 * self.padding - self.kernel) // self.stride + 1 for n in (h, w)))

    def make(self, has):
        return nn.Conv2d(self.in_dims[0][0], self.channels, self.kernel, self.stride,
                         self.padding, groups=self.groups, bias=has("bias"))

    def run(self, conv, x):
        return ACTIVATIONS[self.activation](conv(x))


class GroupNorm(Layer):
    KEYS = {"groups": (_count, REQUIRED), "eps": (_positive, 1e-5),
            "activation": (_activation, "none")}

    def out_dims(self, x):
        if x[0] % self.groups:
            raise self.error(f"groups {self.groups} must divide the channels ({x[0]})")
        return x

    def make(self, has):
        return nn.GroupNorm(self.groups, self.dims[0], self.eps)

    def run(self, norm, x):
        return ACTIVATIONS[self.activation](norm(x))


class LayerNorm(Layer):
    KEYS = {"eps": (_positive, 1e-5), "affine": (_bool, True)}

    def make(self, has):
        norm = nn.LayerNorm(self.dims[-1], self.eps, elementwise_affine=self.affine)
        if self.affine and not has("bias"):
            norm.register_parameter("bias", None)
        return norm

    def run(self, norm, x):
        return norm(x)


class Upsample(Layer):
    KEYS = {"factor": (_count, 2)}

    def out_dims(self, x):
        c, h, w = self.image(x)
        return (c, h * self.factor, w * self.factor)

    def run(self, _, x):
        return F.interpolate(x, scale_factor=self.factor, mode="nearest")


class AvgPool(Layer):
    KEYS = {"kernel": (_count, 2)}

    def out_dims(self, x):
        c, h, w = self.image(x)
        if min(h, w) < self.kernel:
            raise self.error(f"kernel {self.kernel} is larger than the input {list(x)}")
        return (c, h // self.kernel, w // self.kernel)

    def run(self, _, x):
        return F.avg_pool2d(x, self.kernel)


class Attention(Layer):
    KEYS = {"heads": (_count, REQUIRED)}

    def out_dims(self, x):
        if len(x) != 2 or x[1] % self.heads:
            raise self.error(f"input '{self.inputs[0]}' has shape {list(x)}, expected [L, E] "
                             f"with E a multiple of heads ({self.heads})")
        return x

    def make(self, has):
        in_bias, out_bias = has("in_proj_bias"), has("out_proj.bias")
        mha = nn.MultiheadAttention(self.dims[1], self.heads, bias=in_bias or out_bias,
                                    batch_first=True)
        if not in_bias:
            mha.register_parameter("in_proj_bias", None)
        if not out_bias:
            mha.out_proj.register_parameter("bias", None)
        return mha

    def run(self, mha, x):
        # nn.MultiheadAttention's general path, called directly: its fast path (eval mode,
        # no grad) fails on a missing bias in PyTorch 1.13. The functional form is
        # sequence-first.
        x = x.transpose(0, 1)
        y, _ = F.multi_head_attention_forward(
            x, x, x, mha.embed_dim, mha.num_heads, mha.in_proj_weight, mha.in_proj_bias,
            None, None, False, 0.0, mha.out_proj.weight, mha.out_proj.bias,
            training=False, need_weights=False)
        return y.transpose(0, 1)


class Dense(Layer):
    KEYS = {"units": (_count, REQUIRED), "activation": (_activation, "none")}

    def out_dims(self, x):
        return (*x[:-1], self.units)

    def make(self, has):
        return nn.Linear(self.in_dims[0][-1], self.units, bias=has("bias"))

    def run(self, linear, x):
        return ACTIVATIONS[self.activation](linear(x))


class Embed(Layer):
    """Rows of probabilities over K symbols times the embedding table: the expected
    embedding, which is a lookup when the rows are one-hot."""
    KEYS = {"units": (_count, REQUIRED)}

    def out_dims(self, x):
        return (*x[:-1], self.units)

    def make(self, has):
        return nn.Embedding(self.in_dims[0][-1], self.units)

    def run(self, embedding, x):
        return x @ embedding.weight


class Param(Layer):
    KEYS = {"shape": (_int_list(_count), REQUIRED)}
    INPUTS = ()

    def out_dims(self):
        return self.shape

    def make(self, has):
        # No PyTorch layer to take a default from: a learned position embedding's
        # usual initialisation (ViT, GPT-2).
        return nn.Parameter(torch.empty(self.shape).normal_(std=0.02))

    def run(self, param):
        return param.unsqueeze(0)


class Reshape(Layer):
    KEYS = {"shape": (_int_list(_extent), REQUIRED)}

    def out_dims(self, x):
        size, known = math.prod(x), math.prod(d for d in self.shape if d != -1)
        free = self.shape.count(-1)
        if free > 1 or (size % known if free else size != known):
            raise self.error(f"cannot reshape {list(x)} to {list(self.shape)}")
        return tuple(size // known if d == -1 else d for d in self.shape)

    def run(self, _, x):
        return x.reshape(x.shape[0], *self.dims)


class Transpose(Layer):
    KEYS = {"perm": (_int_list(_axis), REQUIRED)}

    def out_dims(self, x):
        perm = tuple(self.resolve_axis(p, len(x)) for p in self.perm)
        if sorted(perm) != list(range(len(x))):
            raise self.error(f"perm {list(self.perm)} is not a permutation of the {len(x)} axes "
                             f"of {list(x)}")
        self.perm = perm
        return tuple(x[p] for p in perm)

    def run(self, _, x):
        return x.permute(0, *(p + 1 for p in self.perm))


class Chunk(Layer):
    """torch.chunk: pieces of ceil(n / chunks), the last one shorter, so there may be
    fewer than `chunks` pieces (7 in 3 chunks is 3, 3, 1; 5 in 4 chunks is 2, 2, 1)."""
    KEYS = {"chunks": (_count, REQUIRED), "index": (_index, REQUIRED), "axis": (_axis, -1)}

    def out_dims(self, x):
        self.axis = self.resolve_axis(self.axis, len(x))
        n = x[self.axis]
        size = -(-n // self.chunks)
        if self.index * size >= n:
            raise self.error(f"index {self.index} is out of range: {n} splits into "
                             f"{-(-n // size)} chunks of up to {size}")
        return tuple(min(size, n - self.index * size) if a == self.axis else d
                     for a, d in enumerate(x))

    def run(self, _, x):
        return torch.chunk(x, self.chunks, self.axis + 1)[self.index]


class Broadcast(Layer):
    """add and mul: NumPy broadcasting of the per-sample shapes, left to right."""
    INPUTS = ("inputs",)

    def out_dims(self, *xs):
        try:
            return np.broadcast_shapes(*xs)
        except ValueError:
            raise self.error(f"cannot broadcast the shapes {[list(x) for x in xs]}") from None

    def run(self, _, *xs):
        combine = torch.add if self.op == "add" else torch.mul
        return functools.reduce(combine, _aligned(xs, len(self.dims)))


class Modulate(Broadcast):
    """FiLM / adaLN: x * (1 + scale) + shift."""
    INPUTS = ("input", "shift", "scale")

    def run(self, _, *xs):
        x, shift, scale = _aligned(xs, len(self.dims))
        return x * (1 + scale) + shift


class Concat(Layer):
    KEYS = {"axis": (_axis, 0)}
    INPUTS = ("inputs",)

    def out_dims(self, *xs):
        self.axis = self.resolve_axis(self.axis, len(xs[0]))
        rest = {x[:self.axis] + x[self.axis + 1:] for x in xs}
        if len(rest) > 1 or len({len(x) for x in xs}) > 1:
            raise self.error(f"the shapes {[list(x) for x in xs]} differ on an axis other than "
                             f"{self.axis}")
        return (*xs[0][:self.axis], sum(x[self.axis] for x in xs), *xs[0][self.axis + 1:])

    def run(self, _, *xs):
        return torch.cat(xs, self.axis + 1)


class Softmax(Layer):
    KEYS = {"axis": (_axis, -1)}

    def out_dims(self, x):
        self.axis = self.resolve_axis(self.axis, len(x))
        return x

    def run(self, _, x):
        return F.softmax(x, self.axis + 1)


class Sinusoidal(Layer):
    KEYS = {"dim": (_count, REQUIRED), "order": (_choice("sin-cos", "cos-sin"), "sin-cos")}

    def out_dims(self, x):
        if x != (1,):
            raise self.error(f"input '{self.inputs[0]}' has shape {list(x)}, expected [1]")
        if self.dim % 2:
            raise self.error(f"dim {self.dim} is odd, expected an even number")
        return (self.dim,)

    def run(self, _, t):
        return sinusoidal(t, self.dim, self.order)


class Activation(Layer):
    def run(self, _, x):
        return ACTIVATIONS[self.op](x)


def sinusoidal(t, dim, order="sin-cos"):
    """The `sinusoidal` op: t [N, 1] -> [N, dim]."""
    # In float64, rounded once to float32 at the end, as pmmc's kernel does: large
    # tau times a frequency loses the angle's low bits in float32.
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    angles = t.to(torch.float64) * freqs
    parts = (torch.sin(angles), torch.cos(angles))
    if order == "cos-sin":
        parts = parts[::-1]
    return torch.cat(parts, 1).to(torch.float32).to(t.dtype)


def _aligned(xs, rank):
    """Tensors with their per-sample axes padded on the left to `rank`, so that PyTorch
    broadcasts per-sample shapes and never the batch axis against a per-sample axis."""
    return [x.reshape(x.shape[0], *(1,) * (rank + 1 - x.dim()), *x.shape[1:]) for x in xs]


OPS = {
    "conv2d": Conv2d, "groupnorm": GroupNorm, "layernorm": LayerNorm, "upsample": Upsample,
    "avgpool": AvgPool, "attention": Attention, "dense": Dense, "embed": Embed, "param": Param,
    "reshape": Reshape, "transpose": Transpose, "chunk": Chunk, "add": Broadcast,
    "mul": Broadcast, "modulate": Modulate, "concat": Concat, "softmax": Softmax,
    "sinusoidal": Sinusoidal,
    **{name: Activation for name in ACTIVATIONS if name != "none"},
}
