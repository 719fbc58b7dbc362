"""What each PyTorch module, function and method pmm.export supports becomes in pmmc layers.

Every handler takes the converter (fxgraph.Converter), the fx node and, for a module call,
the module; it returns the node's value: the name of the layer computing it, or one of the
values below. Dims and axes given with the batch axis become per-sample ones.
"""
import operator

import torch
import torch.nn.functional as F
from torch import nn

from .ops import REQUIRED, sinusoidal


class Sinusoidal(nn.Module):
    """pmmc's `sinusoidal` op as a module: tau [N] or [N, 1] -> [N, dim]. pmm.export keeps it
    whole instead of tracing its float64 arithmetic, which no layer computes."""

    def __init__(self, dim, order="sin-cos"):
        super().__init__()
        if not isinstance(dim, int) or dim < 2 or dim % 2:
            raise ValueError(f"dim {dim!r}, expected an even integer >= 2")
        if order not in ("sin-cos", "cos-sin"):
            raise ValueError(f"order {order!r}, expected sin-cos or cos-sin")
        self.dim, self.order = dim, order

    def forward(self, tau):
        return sinusoidal(tau.reshape(-1, 1), self.dim, self.order)

    def extra_repr(self):
        return f"{self.dim}, order={self.order!r}"


# ---- values other than a layer ----------------------------------------------------------------

class Const:
    """A value depending on neither mu nor tau. `name` names its param layer (the attribute
    path of a parameter, so that its tensor keeps its state_dict name); `layer` is that layer
    once written."""

    def __init__(self, value, name=None):
        self.value, self.name, self.layer = value, name, None


class Pieces:
    """The tuple torch.chunk returns: each piece read becomes a chunk layer."""

    def __init__(self, layer, chunks, axis):
        self.layer, self.chunks, self.axis = layer, chunks, axis


class AttentionPair:
    """nn.MultiheadAttention's (output, weights): the output is the attention layer."""

    def __init__(self, layer):
        self.layer = layer


TAU = object()  # the tau input, [N]: pmmc's time is [N, 1]


# ---- modules ------------------------------------------------------------------------------------

def linear(c, node, m):
    (x,) = c.args(node, ("input", REQUIRED))
    return c.emit(node, "dense", c.out(node), input=c.operand(x, node), units=m.out_features,
                  tensors=m.state_dict())


def conv2d(c, node, m):
    (x,) = c.args(node, ("input", REQUIRED))
    kernel, stride, padding = _square(m.kernel_size), _square(m.stride), _square(m.padding)
    if isinstance(m.padding, str):  # 'same' pads both sides alike only for odd kernels
        padding = 0 if m.padding == "valid" else (kernel - 1) // 2 if kernel and kernel % 2 \
            else None
    if None in (kernel, stride, padding) or _square(m.dilation) != 1 \
            or m.padding_mode != "zeros":
        raise c.unsupported(
            node, f"kernel_size {m.kernel_size}, stride {m.stride}, padding {m.padding!r}, "
            f"dilation {m.dilation}, padding_mode {m.padding_mode!r}",
            "pmmc's conv2d has a square kernel and stride, the same padding on H and W, "
            "dilation 1 and padding_mode 'zeros'")
    keys = {"channels": m.out_channels, "kernel": kernel}
    keys.update({k: v for k, v, default in (("stride", stride, 1), ("groups", m.groups, 1),
                                            ("padding", padding, (kernel - 1) // 2))
                 if v != default})
    return c.emit(node, "conv2d", c.out(node), input=c.operand(x, node),
                  tensors=m.state_dict(), **keys)


def groupnorm(c, node, m):
    (x,) = c.args(node, ("input", REQUIRED))
    # pmmc's groupnorm always has its affine tensors; these leave the values as they are.
    tensors = m.state_dict() if m.affine else {"weight": torch.ones(m.num_channels),
                                               "bias": torch.zeros(m.num_channels)}
    eps = {} if m.eps == 1e-5 else {"eps": m.eps}
    return c.emit(node, "groupnorm", c.out(node), input=c.operand(x, node),
                  groups=m.num_groups, tensors=tensors, **eps)


def layernorm(c, node, m):
    (x,) = c.args(node, ("input", REQUIRED))
    if len(m.normalized_shape) != 1:
        raise c.unsupported(node, f"it normalises over {list(m.normalized_shape)}",
                            "pmmc's layernorm normalises over the last axis: nn.LayerNorm(E)")
    keys = {} if m.eps == 1e-5 else {"eps": m.eps}
    if not m.elementwise_affine:
        keys["affine"] = False
    return c.emit(node, "layernorm", c.out(node), input=c.operand(x, node),
                  tensors=m.state_dict(), **keys)


def attention(c, node, m):
    q, k, v, padding_mask, _, mask, _ = c.args(
        node, ("query", REQUIRED), ("key", REQUIRED), ("value", REQUIRED),
        ("key_padding_mask", None), ("need_weights", True), ("attn_mask", None),
        ("average_attn_weights", True))
    if not (q is k is v) or padding_mask is not None or mask is not None:
        raise c.unsupported(node, "pmmc's attention is self-attention without masks",
                            "call it as attn(x, x, x)")
    if not m.batch_first or not m._qkv_same_embed_dim or m.bias_k is not None \
            or m.add_zero_attn:
        raise c.unsupported(node, "pmmc's attention is batch-first, with one in_proj",
                            "nn.MultiheadAttention(E, heads, batch_first=True) without kdim, "
                            "vdim, add_bias_kv or add_zero_attn")
    dims = tuple(node.meta["tensor_meta"][0].shape[1:])
    return AttentionPair(c.emit(node, "attention", dims, input=c.operand(q, node),
                                heads=m.num_heads, tensors=m.state_dict()))


def time_embedding(c, node, m):
    (tau,) = c.args(node, ("tau", REQUIRED))
    value = c.value(tau)
    x = "time" if value is TAU else c.layer(value, node)
    order = {} if m.order == "sin-cos" else {"order": m.order}
    return c.emit(node, "sinusoidal", c.out(node), input=x, dim=m.dim, **order)


# ---- modules or functions ---------------------------------------------------------------------

_OPTIONS = {  # activation -> its options: PyTorch's names and the values pmmc computes
    "relu": (("inplace", False),), "silu": (("inplace", False),),
    "gelu": (("approximate", "none"),), "softplus": (("beta", 1), ("threshold", 20)),
    "tanh": (), "sigmoid": (),
}


def _activation(op):
    def handler(c, node, m):
        options = _OPTIONS[op]
        if m is None:
            x, *values = c.args(node, ("input", REQUIRED), *options)
            found = {name: c.constant(v, node) for (name, _), v in zip(options, values)}
        else:
            (x,) = c.args(node, ("input", REQUIRED))
            found = {name: getattr(m, name) for name, _ in options}
        layer_op = op
        if op == "gelu" and found["approximate"] == "tanh":
            layer_op = "gelu-tanh"
        elif any(found[key] != default for key, default in options if key != "inplace"):
            raise c.unsupported(node, f"options {found}", f"pmmc's {op} has {dict(options)}"
                                + ("; approximate 'tanh' is gelu-tanh" if op == "gelu" else ""))
        return c.emit(node, layer_op, c.out(node), input=c.operand(x, node))
    return handler


def upsample(c, node, m):
    if m is None:
        x, *options = c.args(node, ("input", REQUIRED), ("size", None), ("scale_factor", None),
                             ("mode", "nearest"), ("align_corners", None),
                             ("recompute_scale_factor", None), ("antialias", False))
        size, factor, mode, _, _, antialias = (c.constant(a, node) for a in options)
    else:
        (x,) = c.args(node, ("input", REQUIRED))
        size, factor, mode, antialias = m.size, m.scale_factor, m.mode, False
    if size is not None or mode != "nearest" or not _square(factor) or antialias:
        raise c.unsupported(node, f"mode {mode!r}, scale_factor {factor}, size {size}",
                            "pmmc's upsample is nearest-neighbour by an integer factor: "
                            "nn.Upsample(scale_factor=2) or F.interpolate(x, scale_factor=2, "
                            "mode='nearest')")
    factor = _square(factor)
    keys = {} if factor == 2 else {"factor": factor}
    return c.emit(node, "upsample", c.out(node), input=c.operand(x, node), **keys)


def avgpool(c, node, m):
    if m is None:
        x, *options = c.args(node, ("input", REQUIRED), ("kernel_size", REQUIRED),
                             ("stride", None), ("padding", 0), ("ceil_mode", False),
                             ("count_include_pad", True), ("divisor_override", None))
        kernel, stride, padding, ceil, _, divisor = (c.constant(a, node) for a in options)
    else:
        (x,) = c.args(node, ("input", REQUIRED))
        kernel, stride, padding, ceil, divisor = (
            m.kernel_size, m.stride, m.padding, m.ceil_mode, m.divisor_override)
    kernel = _square(kernel)
    if not kernel or _square(stride or kernel) != kernel or _square(padding) != 0 or ceil \
            or divisor:
        raise c.unsupported(node, f"kernel_size {kernel}, stride {stride}, padding {padding}, "
                            f"ceil_mode {ceil}, divisor_override {divisor}",
                            "pmmc's avgpool: nn.AvgPool2d(k), stride k, no padding")
    keys = {} if kernel == 2 else {"kernel": kernel}
    return c.emit(node, "avgpool", c.out(node), input=c.operand(x, node), **keys)


def softmax(c, node, m):
    if m is None:
        x, dim, _, _ = c.args(node, ("input", REQUIRED), ("dim", None), ("_stacklevel", 3),
                              ("dtype", None))
    else:
        (x,) = c.args(node, ("input", REQUIRED))
        dim = m.dim
    if dim is None:
        raise c.unsupported(node, "softmax without a dim")
    axis = c.axis(node, dim, len(c.shape(node)))
    keys = {} if axis == -1 else {"axis": axis}
    return c.emit(node, "softmax", c.out(node), input=c.operand(x, node), **keys)


def reshape(c, node, _):
    """view, reshape, flatten, unsqueeze, squeeze, x[:, None]: the shape ShapeProp found."""
    source, shape = c.value(node.args[0]), c.shape(node)
    if source is TAU and shape == (c.n, 1):
        return "time"
    x = c.layer(source, node)
    if len(shape) < 2 or shape[0] != c.n:
        raise c.unsupported(node, f"it gives shape {list(shape)}: the batch axis (N = {c.n}) "
                            "must stay the first axis")
    if shape[1:] == c.dims[x]:
        return x
    return c.emit(node, "reshape", shape[1:], input=x, shape=list(shape[1:]))


def identity(c, node, _):
    return c.operand(node.args[0], node)


# ---- functions and methods ----------------------------------------------------------------------

def add(c, node, _):
    if node in c.modulates:
        x, shift, scale = (c.operand(a, node) for a in c.modulates[node])
        return c.emit(node, "modulate", c.out(node), input=x, shift=shift, scale=scale)
    a, b = _operands(c, node, ("alpha", 1))
    return _binary(c, node, "add", c.value(a), c.value(b))


def sub(c, node, _):
    a, b = _operands(c, node, ("alpha", 1))
    b = c.value(b)
    if isinstance(b, Const):
        negated = Const(-b.value, None if isinstance(b.value, (int, float)) else
                        f"{node.name}_negated")
    else:
        negated = c.emit(node, "mul", None, f"{node.name}_negated",
                         inputs=[c.layer(b, node), c.layer(Const(-1.0), node)])
    return _binary(c, node, "add", c.value(a), negated)


def mul(c, node, _):
    a, b = _operands(c, node)
    return _binary(c, node, "mul", c.value(a), c.value(b))


def div(c, node, _):
    a, b = _operands(c, node, ("rounding_mode", None))
    b = c.value(b)
    if not isinstance(b, Const):
        raise c.unsupported(node, "pmmc divides only by constants")
    reciprocal = Const(1 / b.value, None if isinstance(b.value, (int, float)) else
                       f"{node.name}_reciprocal")
    return _binary(c, node, "mul", c.value(a), reciprocal)


def neg(c, node, _):
    (a,) = c.args(node, ("input", REQUIRED))
    return _binary(c, node, "mul", c.value(a), Const(-1.0))


def _operands(c, node, *options):
    """The two operands of an arithmetic node whose options keep their defaults."""
    a, b, *values = c.args(node, ("input", REQUIRED), ("other", REQUIRED), *options)
    for (name, default), value in zip(options, values):
        if c.constant(value, node) != default:
            raise c.unsupported(node, f"{name}={value!r}")
    return a, b


def _binary(c, node, op, a, b):
    return c.emit(node, op, c.out(node), inputs=[c.layer(a, node), c.layer(b, node)])


def cat(c, node, _):
    tensors, dim = c.args(node, ("tensors", REQUIRED), ("dim", 0))
    xs = [c.operand(t, node) for t in tensors]
    axis = c.axis(node, dim, len(c.shape(node)))
    if len(xs) == 1:
        return xs[0]
    keys = {} if axis == 0 else {"axis": axis}
    return c.emit(node, "concat", c.out(node), inputs=xs, **keys)


def chunk(c, node, _):
    x, chunks, dim = c.args(node, ("input", REQUIRED), ("chunks", REQUIRED), ("dim", 0))
    axis = c.axis(node, dim, len(c.shape(x)))
    return Pieces(c.operand(x, node), c.constant(chunks, node), axis)


def getitem(c, node, _):
    source, index = c.value(node.args[0]), c.constant(node.args[1], node)
    if isinstance(source, Pieces):
        count = len(node.args[0].meta["tensor_meta"])
        if not isinstance(index, int) or not -count <= index < count:
            raise c.unsupported(node, f"index {index!r} of {count} chunks")
        keys = {} if source.axis == -1 else {"axis": source.axis}
        return c.emit(node, "chunk", c.out(node), input=source.layer, chunks=source.chunks,
                      index=index % count, **keys)
    if isinstance(source, AttentionPair):
        if index == 0:
            return source.layer
        raise c.unsupported(node, "it reads the attention weights, which pmmc's attention "
                            "does not give", "use attn(x, x, x)[0]")
    if all(i is None or i is Ellipsis or i == slice(None)
           for i in (index if isinstance(index, tuple) else (index,))):
        return reshape(c, node, None)  # x[:, None]: new axes of 1
    raise c.unsupported(node, "it slices a tensor",
                        "torch.chunk along a per-sample axis (pmmc's chunk)")


def permute(c, node, _):
    dims = [c.constant(a, node) for a in node.args[1:]] or \
        [c.constant(node.kwargs.get("dims"), node)]
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = list(dims[0])
    return _permuted(c, node, node.args[0], dims)


def transpose(c, node, _):
    x, dim0, dim1 = c.args(node, ("input", REQUIRED), ("dim0", REQUIRED), ("dim1", REQUIRED))
    rank = len(c.shape(node))
    dims = list(range(rank))
    a, b = (c.constant(d, node) % rank for d in (dim0, dim1))
    dims[a], dims[b] = dims[b], dims[a]
    return _permuted(c, node, x, dims)


def _permuted(c, node, x, dims):
    rank = len(c.shape(node))
    dims = [d % rank for d in dims]
    if dims[0] != 0:
        raise c.unsupported(node, f"it permutes the axes as {dims}: the batch axis must stay "
                            "the first axis")
    x = c.operand(x, node)
    if dims == sorted(dims):
        return x
    return c.emit(node, "transpose", c.out(node), input=x, perm=[d - 1 for d in dims[1:]])


def matmul(c, node, _):
    x, w = c.args(node, ("input", REQUIRED), ("other", REQUIRED))
    weight = c.value(w)
    if not isinstance(weight, Const) or not isinstance(weight.value, torch.Tensor) \
            or weight.value.dim() != 2:
        raise c.unsupported(node, "pmmc multiplies a tensor only by a constant [K, units] "
                            "matrix on its right (embed)",
                            "nn.Linear for projections, nn.MultiheadAttention for attention")
    # The embed layer of `mu @ self.emb.weight` is `emb`, so its weight keeps its name.
    path = weight.name or node.name
    name = path[:-len(".weight")] if path.endswith(".weight") else path
    return c.emit(node, "embed", c.out(node), name, input=c.operand(x, node),
                  units=weight.value.shape[1], tensors={"weight": weight.value})


# ---- the tables -----------------------------------------------------------------------------------

_ACTIVATIONS = {op: _activation(op) for op in _OPTIONS}
MODULES = {
    nn.Linear: linear, nn.Conv2d: conv2d, nn.GroupNorm: groupnorm, nn.LayerNorm: layernorm,
    nn.MultiheadAttention: attention, nn.Upsample: upsample, nn.UpsamplingNearest2d: upsample,
    nn.AvgPool2d: avgpool, nn.Softmax: softmax, nn.Flatten: reshape, nn.Identity: identity,
    nn.Dropout: identity, nn.Dropout1d: identity, nn.Dropout2d: identity,
    Sinusoidal: time_embedding, nn.ReLU: _ACTIVATIONS["relu"], nn.SiLU: _ACTIVATIONS["silu"],
    nn.GELU: _ACTIVATIONS["gelu"], nn.Softplus: _ACTIVATIONS["softplus"],
    nn.Tanh: _ACTIVATIONS["tanh"], nn.Sigmoid: _ACTIVATIONS["sigmoid"],
}
FUNCTIONS = {
    operator.add: add, torch.add: add, operator.sub: sub, torch.sub: sub, operator.mul: mul,
    torch.mul: mul, operator.truediv: div, torch.div: div, operator.neg: neg, torch.neg: neg,
    operator.getitem: getitem, torch.cat: cat, torch.concat: cat, torch.chunk: chunk,
    torch.reshape: reshape, torch.flatten: reshape, torch.unsqueeze: reshape,
    torch.squeeze: reshape, torch.permute: permute, torch.transpose: transpose,
    torch.matmul: matmul, operator.matmul: matmul, torch.softmax: softmax, F.softmax: softmax,
    F.interpolate: upsample, F.avg_pool2d: avgpool, F.dropout: identity,
    torch.relu: _ACTIVATIONS["relu"], F.relu: _ACTIVATIONS["relu"],
    F.silu: _ACTIVATIONS["silu"], F.gelu: _ACTIVATIONS["gelu"],
    F.softplus: _ACTIVATIONS["softplus"], torch.tanh: _ACTIVATIONS["tanh"],
    torch.sigmoid: _ACTIVATIONS["sigmoid"],
}
METHODS = {
    "add": add, "sub": sub, "mul": mul, "div": div, "neg": neg, "chunk": chunk,
    "permute": permute, "transpose": transpose, "matmul": matmul, "softmax": softmax,
    "contiguous": identity, "relu": _ACTIVATIONS["relu"], "tanh": _ACTIVATIONS["tanh"],
    "sigmoid": _ACTIVATIONS["sigmoid"],
    **{name: reshape for name in ("reshape", "view", "flatten", "unsqueeze", "squeeze")},
}


def modulate_match(node):
    """((x, shift, scale), inner nodes) when node is x * (1 + scale) + shift, operands in any
    order, and its inner sum and product are used only there: pmmc's modulate."""
    for prod, shift in _pairs(node, (operator.add, torch.add, "add")):
        for x, one_plus in _pairs(prod, (operator.mul, torch.mul, "mul")):
            for one, scale in _pairs(one_plus, (operator.add, torch.add, "add")):
                if type(one) in (int, float) and one == 1 and isinstance(scale, torch.fx.Node) \
                        and isinstance(x, torch.fx.Node) and len(prod.users) == 1 \
                        and len(one_plus.users) == 1:
                    return (x, shift, scale), (prod, one_plus)
    return None


def _pairs(node, targets):
    """The two operands of a plain `a + b` or `a * b` node, in both orders."""
    if not isinstance(node, torch.fx.Node) or node.op not in ("call_function", "call_method") \
            or node.target not in targets or len(node.args) != 2 or node.kwargs:
        return ()
    a, b = node.args
    return ((a, b), (b, a))


def _square(value):
    """The int a size of one or two equal values stands for, else None."""
    if isinstance(value, (tuple, list)):
        value = value[0] if len(set(value)) == 1 else None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if type(value) is int and value >= 0 else None
