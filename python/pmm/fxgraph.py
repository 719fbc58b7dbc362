"""A module's forward(mu, tau), traced by torch.fx, as the layers of a graph network.

torch.fx records the module as a graph of submodule calls, function and method calls and
attribute reads; ShapeProp runs that graph on the example inputs, which gives every node's
shape. A node whose value depends on mu or tau becomes the layers computing that value per
sample (fxops.py says which); a node depending on neither is a constant, evaluated once and
written as a `param` layer where a layer reads it.
"""
import dis
import inspect
import operator
import os
import re
import traceback

import torch
import torch.fx
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp

from . import fxops
from .fxops import TAU, Const, Sinusoidal
from .graph import parse_layer
from .ops import OPS, REQUIRED


class UnsupportedOperation(ValueError):
    """A node of the traced module that no pmmc layer computes. The message names its kind,
    its target and the source line that made it, with the supported alternatives."""


def to_network(module, mu, tau):
    """(network mapping, tensors by name, per-sample output shape) of module(mu, tau)."""
    try:
        graph = _Tracer().trace(module)
    except torch.fx.proxy.TraceError as e:
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if not f.filename.startswith(_LIBRARIES)]
        where = f" ({frames[-1].filename}:{frames[-1].lineno}: {frames[-1].line})" \
            if frames else ""
        raise UnsupportedOperation(f"cannot trace {type(module).__qualname__}.forward{where}: "
                                   f"{e}") from None
    gm = torch.fx.GraphModule(module, graph)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return Converter(gm, mu, tau).run()


# ---- tracing ---------------------------------------------------------------------------------

class _Proxy(torch.fx.Proxy):
    def __iter__(self):
        # torch.fx 1.13 looks for the unpacking instruction at index f_lasti // 2, which the
        # inline caches of Python 3.11 shift; its byte offset finds it in every version.
        frame = inspect.currentframe().f_back
        for inst in dis.get_instructions(frame.f_code):
            if inst.offset == frame.f_lasti and inst.opname == "UNPACK_SEQUENCE":
                return (self[i] for i in range(inst.argval))
        return self.tracer.iter(self)

    def __getattr__(self, attr):
        return _Attribute(self, attr)


class _Attribute(torch.fx.proxy.Attribute):
    __iter__ = _Proxy.__iter__  # `b, c, h, w = x.shape`


class _Tracer(torch.fx.Tracer):
    def __init__(self):
        super().__init__()
        self.record_stack_traces = True

    def proxy(self, node):
        return _Proxy(node, self)

    def is_leaf_module(self, m, qualname):
        return isinstance(m, Sinusoidal) or super().is_leaf_module(m, qualname)


class _Run(ShapeProp):
    """ShapeProp that also keeps the values of the nodes in `keep` and every value that holds
    no tensor (shapes, sizes)."""

    def __init__(self, gm, keep):
        super().__init__(gm)
        self.keep, self.values = keep, {}

    def run_node(self, node):
        value = super().run_node(node)
        if node in self.keep or "tensor_meta" not in node.meta:
            self.values[node] = value
        return value


_SHAPE_READS = {"shape", "ndim", "dtype", "device", "size", "dim"}


class Converter:
    """The walk over a traced graph: the value of every node, the layers and tensors written.

    A node's value is the name of the layer computing it (`mu`, `time` or a layer), TAU, a
    Const, or what fxops gives a tuple (Pieces, AttentionPair). `modulates` holds the sums
    that fxops.modulate_match made one modulate layer, `inner` the nodes those replace.
    """

    def __init__(self, gm, mu, tau):
        self.gm, self.n = gm, mu.shape[0]
        self.dynamic = set()
        for node in gm.graph.nodes:
            if node.op == "placeholder" or any(i in self.dynamic for i in node.all_input_nodes):
                self.dynamic.add(node)
        run = _Run(gm, set(gm.graph.nodes) - self.dynamic)
        run.propagate(mu, tau)
        self.values = run.values
        self.env, self.layers, self.tensors, self.numbers, self.called = {}, [], {}, {}, set()
        self.dims = {"mu": tuple(mu.shape[1:]), "time": (1,)}
        self.modulates, self.inner = {}, set()
        for node in gm.graph.nodes:
            match = fxops.modulate_match(node)
            # modulate's value has the shape of its input, x * (1 + scale) + shift broadcasts
            if match and node in self.dynamic and all(
                    "tensor_meta" in n.meta for n in (node, match[0][0])) \
                    and self.shape(node) == self.shape(match[0][0]):
                self.modulates[node] = match[0]
                self.inner.update(match[1])

    def run(self):
        inputs = [node for node in self.gm.graph.nodes if node.op == "placeholder"]
        if len(inputs) != 2:
            raise ValueError(f"forward takes {len(inputs)} arguments, expected 2 (mu, tau)")
        self.env.update(zip(inputs, ("mu", TAU)))
        for node in self.gm.graph.nodes:
            if node.op == "output":
                return self.finish(node)
            if node in self.env or node in self.inner:
                continue
            if node not in self.dynamic:
                self.env[node] = Const(self.values[node],
                                       node.target if node.op == "get_attr" else node.name)
            elif "tensor_meta" not in node.meta:
                self.env[node] = self.read_shape(node)
            else:
                meta = node.meta["tensor_meta"]
                if hasattr(meta, "shape") and meta.shape[0] != self.n:
                    raise self.unsupported(node, f"its value has shape {list(meta.shape)}: the "
                                           f"batch axis (N = {self.n}) is not its first axis")
                self.env[node] = self.convert(node)

    def convert(self, node):
        module = self.gm.get_submodule(node.target) if node.op == "call_module" else None
        if node.op == "call_module":
            handler = fxops.MODULES.get(type(module))  # a subclass may compute another thing
            names = [t.__name__ for t in fxops.MODULES]
        elif node.op == "call_function":
            handler = fxops.FUNCTIONS.get(node.target)
            names = map(_function_name, fxops.FUNCTIONS)
        else:
            handler = fxops.METHODS.get(node.target)
            names = (f"Tensor.{name}" for name in fxops.METHODS)
        if handler is None:
            raise self.unsupported(node, "no pmmc layer computes it",
                                   f"supported: {', '.join(sorted(names))}")
        return handler(self, node, module)

    def finish(self, node):
        value = self.value(node.args[0])
        if not isinstance(value, str) or value in ("mu", "time"):
            raise self.unsupported(node, "the module must return one tensor that a layer "
                                   "computes, not an input or a tuple")
        previous = None
        for spec in self.layers:
            if OPS[spec["op"]].INPUTS == ("input",) and spec["input"] == previous:
                del spec["input"]  # a single-input layer reads the previous one by default
            previous = spec["name"]
        network = {"kind": "graph", "layers": self.layers}
        if value != previous:
            network["output"] = value
        return network, self.tensors, self.dims[value]

    # ---- values, arguments, names and layers -------------------------------------------------

    def shape(self, node):
        return tuple(node.meta["tensor_meta"].shape)

    def out(self, node):
        return self.shape(node)[1:]

    def value(self, arg):
        return self.env[arg] if isinstance(arg, torch.fx.Node) else Const(arg)

    def args(self, node, *spec):
        """The node's arguments in the order of spec, ((name, default or REQUIRED), ...)."""
        names = [name for name, _ in spec]
        extra = sorted(set(node.kwargs) - set(names))
        if len(node.args) > len(spec) or extra:
            raise self.unsupported(node, f"unexpected arguments {node.args[len(spec):]} "
                                   f"{extra}, expected {', '.join(names)}")
        found = []
        for i, (name, default) in enumerate(spec):
            value = node.args[i] if i < len(node.args) else node.kwargs.get(name, default)
            if value is REQUIRED:
                raise self.unsupported(node, f"missing argument {name!r}")
            found.append(value)
        return found

    def constant(self, arg, node):
        """A Python value an argument must be (a dim, a flag)."""
        value = self.value(arg)
        if not isinstance(value, Const):
            raise self.unsupported(node, "an argument that must be a constant depends on mu "
                                   "or tau")
        return value.value

    def operand(self, arg, node):
        return self.layer(self.value(arg), node)

    def layer(self, value, node):
        """The layer computing a tensor operand; a constant becomes a param layer."""
        if isinstance(value, str):
            return value
        if value is TAU:
            raise self.unsupported(
                node, "it reads tau, shape [N], and pmmc's time input has shape [N, 1]",
                "write tau[:, None] (or tau.unsqueeze(1), tau.reshape(-1, 1)) before using "
                "it, or pass tau to pmm.export.Sinusoidal")
        if not isinstance(value, Const) or isinstance(value.value, bool) or not isinstance(
                value.value, (int, float, torch.Tensor)):
            what = type(value.value).__name__ if isinstance(value, Const) else "tuple"
            raise self.unsupported(node, f"an operand is a {what}, not a tensor")
        number = not isinstance(value.value, torch.Tensor)
        if number and float(value.value) in self.numbers:
            return self.numbers[float(value.value)]
        if value.layer is None:
            t = torch.as_tensor(value.value, dtype=torch.float32).detach()
            shape = list(t.shape)
            while len(shape) > 1 and shape[0] == 1:
                shape.pop(0)  # axes of 1 in front broadcast alike with or without them
            shape = shape or [1]
            value.layer = self.emit(node, "param", tuple(shape),
                                    value.name or f"{node.name}_c", shape=shape)
            stored = list(t.shape) in (shape, [1] + shape)
            self.tensors[value.layer] = t if stored else t.reshape(shape)
            if number:
                self.numbers[float(value.value)] = value.layer
        return value.layer

    def emit(self, node, op, dims, name=None, tensors=None, **keys):
        """Append a layer computing `node` (its shape checked against `dims` unless None) and
        return its name: a module's path the first time it is called (its tensors keep their
        state_dict names), otherwise the node's name, made valid and unique."""
        if name is None:
            name = node.name
            if node.op == "call_module" and node.target not in self.called:
                name = node.target
                self.called.add(name)
        name = base = _layer_name(name)
        count = 1
        while name in self.dims:
            count += 1
            name = f"{base}_{count}"
        spec = {"name": name, "op": op, **keys}
        try:
            layer = parse_layer(spec, len(self.layers), None, self.dims)
        except ValueError as e:
            raise self.unsupported(node, str(e)) from None
        if dims is not None and tuple(dims) != layer.dims:
            raise self.unsupported(node, f"pmmc's {op} gives per-sample shape {list(layer.dims)}, "
                                   f"PyTorch {list(dims)}")
        self.dims[name] = layer.dims
        self.layers.append(spec)
        for suffix, t in (tensors or {}).items():
            self.tensors[f"{name}.{suffix}"] = t.detach()
        return name

    def axis(self, node, dim, rank):
        """The per-sample axis of a dim counted with the batch axis."""
        dim = self.constant(dim, node)
        if not isinstance(dim, int) or not -rank <= dim < rank:
            raise self.unsupported(node, f"dim {dim!r}, expected an integer dim")
        if dim % rank == 0:
            raise self.unsupported(node, "it works along the batch axis (dim 0)")
        return dim - 1 if dim > 0 else dim

    def read_shape(self, node):
        """A Python value computed from tensors: only their shapes (`b, c, h, w = x.shape`)."""
        reads = node.op == "call_method" and node.target in _SHAPE_READS or (
            node.target is getattr and node.args[1] in _SHAPE_READS)
        if not reads and any(not isinstance(self.env[i], Const) for i in node.all_input_nodes):
            raise self.unsupported(node, "it turns a tensor's values into a Python value")
        return Const(self.values[node], node.name)

    def unsupported(self, node, reason, hint=None):
        if node.op == "call_module":
            target = f"{type(self.gm.get_submodule(node.target)).__name__} at '{node.target}'"
        elif node.op == "call_function":
            target = _function_name(node.target)
        elif node.op == "call_method":
            target = f"Tensor.{node.target}"
        else:
            target = f"'{node.target}'"
        where = _source_line(node)
        what = "the module's output" if node.op == "output" else (
            f"{node.op} {target} (node '{node.name}'{', ' + where if where else ''})")
        message = f"cannot export {what}: {reason}"
        return UnsupportedOperation(message + (f"\n  hint: {hint}" if hint else ""))


def _layer_name(name):
    """A valid layer name like `name`: dot-separated segments of letters, digits and `_`,
    the first not starting with a digit, none 'training' (which nn.Module reserves)."""
    segments = [re.sub(r"[^A-Za-z0-9_]", "_", s) or "_" for s in name.split(".")]
    segments = [s + "_" if s == "training" else s for s in segments]
    if segments[0][0].isdigit():
        segments[0] = "_" + segments[0]
    return ".".join(segments)


_NAMESPACES = (("torch.nn.functional", F), ("torch", torch), ("operator", operator))


def _function_name(fn):
    name = getattr(fn, "__name__", None)
    for prefix, namespace in _NAMESPACES:
        if name and getattr(namespace, name, None) is fn:
            return f"{prefix}.{name}"
    return f"{getattr(fn, '__module__', None) or 'builtins'}.{getattr(fn, '__qualname__', fn)}"


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in \S+\n +(.*)')


_LIBRARIES = tuple(os.path.dirname(m.__file__) + os.sep for m in (torch, fxops))


def _source_line(node):
    """`file:line: code` of the user's line that made the node (the innermost frame outside
    torch and pmm), or None."""
    for path, line, code in _FRAME.findall(node.stack_trace or ""):
        if not path.startswith(_LIBRARIES):
            return f"{path}:{line}: {code.strip()}"
    return None
