"""A model YAML's graph network as one nn.Module."""
import os
import re
import warnings

from torch import nn

from .ops import OPS, Param
from .safetensors import load_weights
from .spec import Model

PREDEFINED = ("mu", "time")

# Dot-separated segments, so that a layer can be named like a nested PyTorch module
# (`down.0.conv1`); the first segment is a C identifier.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")


def load(path, no_bias=()):
    """The network of the model YAML at `path`, in eval mode.

    Its tensors come from the YAML's `weights:` file when that exists, which also says
    which layers have biases; otherwise they are PyTorch's default initialisation, and
    the layers named in `no_bias` are built without biases.
    """
    model = Model(path)
    exists = model.weights is not None and os.path.exists(model.weights)
    tensors = load_weights(model.weights) if exists else None
    return GraphNet(model.network, model.mu_shape, tensors, no_bias).eval()


class GraphNet(nn.Module):
    """A graph network whose state_dict keys are the tensor names of its weights file.

    forward(mu, tau) takes mu [N, *mu_shape] and tau [N] and returns the output layer's
    value [N, *dims]. `tensors` (name -> tensor) are loaded when given; otherwise
    `no_bias` names the layers to build without biases.
    """

    def __init__(self, network, mu_shape, tensors=None, no_bias=()):
        super().__init__()
        self.mu_shape = tuple(mu_shape)
        self.layers, self.output = parse_layers(network, self.mu_shape)
        self.owners = {}  # layer name -> its nn.Module or nn.Parameter
        for layer in self.layers:
            if tensors is None:
                has = lambda suffix, name=layer.name: name not in no_bias  # noqa: E731
            else:
                has = lambda suffix, name=layer.name: f"{name}.{suffix}" in tensors  # noqa: E731
            owner = layer.make(has)
            if owner is not None:
                self._attach(layer.name, owner)
                self.owners[layer.name] = owner
        if tensors is not None:
            self._load(tensors)

    def forward(self, mu, tau):
        n = mu.shape[0]
        if tuple(mu.shape[1:]) != self.mu_shape or tuple(tau.shape) != (n,):
            raise ValueError(f"mu {list(mu.shape)} and tau {list(tau.shape)}, expected "
                             f"[N, {', '.join(map(str, self.mu_shape))}] and [N]")
        values = {"mu": mu, "time": tau.reshape(n, 1).to(mu.dtype)}
        for layer in self.layers:
            y = layer.run(self.owners.get(layer.name), *(values[i] for i in layer.inputs))
            # Only a param has no input, and its value has no batch axis of its own.
            values[layer.name] = y if layer.inputs else y.expand(n, *layer.dims)
        return values[self.output]

    def _attach(self, name, owner):
        """Register owner under its dotted name, with empty modules for the prefixes.

        The registries are written directly because layer names need not be Python
        identifiers nn.Module accepts (`type`, `half`, `to` are its methods); state_dict
        and load_state_dict read only the registries. `training` is the one name
        nn.Module assigns to itself, so no segment may take it.
        """
        *path, leaf = name.split(".")
        if "training" in path + [leaf]:
            raise ValueError(f"layer '{name}': 'training' is reserved by PyTorch's nn.Module")
        parent = self
        for segment in path:
            if segment in parent._parameters:
                raise ValueError(f"layer '{name}': its name clashes with another layer's tensors")
            parent = parent._modules.setdefault(segment, nn.Module())
        if leaf in parent._modules or leaf in parent._parameters:
            raise ValueError(f"layer '{name}': its name clashes with another layer's tensors")
        registry = parent._parameters if isinstance(owner, nn.Parameter) else parent._modules
        registry[leaf] = owner

    def _load(self, tensors):
        expected = self.state_dict()
        missing = [key for key in expected if key not in tensors]
        if missing:
            raise ValueError(f"the weights have no tensor {', '.join(missing)}")
        params = {layer.name for layer in self.layers if isinstance(layer, Param)}
        found = {}
        for key, want in expected.items():
            got = tensors[key]
            if key in params and got.shape == (1, *want.shape):
                got = got.reshape(want.shape)  # PyTorch code often keeps a batch axis of 1
            if got.shape != want.shape:
                raise ValueError(f"tensor '{key}' has shape {list(got.shape)}, expected "
                                 f"{list(want.shape)}")
            found[key] = got
        unused = sorted(set(tensors) - set(expected))
        if unused:
            warnings.warn(f"tensors no layer uses: {', '.join(unused)}")
        self.load_state_dict(found)


def parse_layers(network, mu_shape):
    """The checked layers of a graph network mapping, and the output layer's name."""
    unknown = sorted(set(network) - {"kind", "layers", "output"})
    if unknown:
        raise ValueError(f"network: unknown key '{unknown[0]}', expected kind, layers, output")
    specs = network.get("layers")
    if not isinstance(specs, list) or not specs:
        raise ValueError("network.layers: expected a non-empty list of layers")
    dims = {"mu": mu_shape, "time": (1,)}
    layers = []
    for index, spec in enumerate(specs):
        layer = parse_layer(spec, index, layers[-1].name if layers else None, dims)
        dims[layer.name] = layer.dims
        layers.append(layer)
    output = network.get("output", layers[-1].name)
    if output not in dims or output in PREDEFINED:
        raise ValueError(f"network.output: {output!r} is not a layer")
    return layers, output


def parse_layer(spec, index, previous, dims):
    """The checked layer of the mapping network.layers[index]; `previous` names the layer an
    omitted input reads, `dims` maps every name defined so far to its shape."""
    if not isinstance(spec, dict):
        raise ValueError(f"network.layers[{index}]: expected a mapping")
    name, op = spec.get("name"), spec.get("op")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"network.layers[{index}]: name {name!r}, expected letters, digits "
                         "and _ in dot-separated segments, not starting with a digit")
    if name in dims:
        raise ValueError(f"layer '{name}': the name is already taken")
    if op not in OPS:
        raise ValueError(f"layer '{name}': unknown op {op!r}, expected one of "
                         f"{', '.join(sorted(OPS))}")
    cls = OPS[op]
    allowed = {"name", "op", *cls.INPUTS, *cls.KEYS}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValueError(f"layer '{name}' ({op}): unknown key '{unknown[0]}', expected one of "
                         f"{', '.join(sorted(allowed))}")
    inputs = _inputs(name, op, cls.INPUTS, spec, previous, dims)
    return cls(name, op, inputs, [dims[i] for i in inputs],
               {key: spec[key] for key in cls.KEYS if key in spec})


def _inputs(name, op, keys, spec, previous, dims):
    """The names of a layer's inputs, in the order its run takes them."""
    names = []
    for key in keys:
        if key == "inputs":
            value = spec.get(key)
            if not isinstance(value, list) or len(value) < 2:
                raise ValueError(f"layer '{name}' ({op}): 'inputs' must list at least 2 layers")
            names += value
            continue
        # Only a single-input layer reads the previous layer by default.
        value = spec.get(key, previous if keys == ("input",) else None)
        if value is None:
            raise ValueError(f"layer '{name}' ({op}): missing key '{key}'")
        names.append(value)
    for value in names:
        if not isinstance(value, str) or value not in dims:
            raise ValueError(f"layer '{name}' ({op}): input {value!r} is not mu, time or an "
                             "earlier layer")
    return names
