"""Model YAML files: reading them as pmmc does, and writing them.

Only what the PyTorch side needs is checked here (the pair, the data shape, the
vocabulary, the network and the weights path); `pmmc check` checks the rest.
"""
import json
import math
import os
import re

import yaml

PAIRS = ("normal-normal", "gamma-poisson", "dirichlet-categorical")


class _Loader(yaml.SafeLoader):
    """The YAML 1.2 core schema, which pmmc reads, instead of PyYAML's YAML 1.1.

    The two disagree on plain scalars a model may hold: `1e-6` is a number in 1.2 and
    a string in 1.1, `yes`/`on` are booleans only in 1.1 and `010` is octal only in 1.1.
    """


_BOOL, _INT, _FLOAT = ("tag:yaml.org,2002:" + t for t in ("bool", "int", "float"))
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT, re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                       r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
_Loader.add_constructor(_BOOL,
                        lambda loader, node: loader.construct_scalar(node).lower() == "true")
_Loader.add_constructor(_INT, lambda loader, node: int(loader.construct_scalar(node)))


def _construct_float(loader, node):
    text = loader.construct_scalar(node).lower()
    if text.lstrip("+-") in (".inf", ".nan"):
        return float(text.replace(".", ""))
    return float(text)


_Loader.add_constructor(_FLOAT, _construct_float)


def read_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)


class Model:
    """The parts of a model YAML that define its network: pair, mu's shape, graph, weights."""

    def __init__(self, path):
        self.path = os.fspath(path)
        doc = read_yaml(self.path)
        if not isinstance(doc, dict):
            raise ValueError(f"{self.path}: expected a mapping at the top level")
        self.pair = doc.get("pair")
        if self.pair not in PAIRS:
            raise ValueError(f"{self.path}: pair {self.pair!r}, expected one of {', '.join(PAIRS)}")
        self.mu_shape = self._mu_shape(doc.get("data"))
        self.network = doc.get("network")
        if not isinstance(self.network, dict) or self.network.get("kind") != "graph":
            raise ValueError(f"{self.path}: the network is not a graph (kind: graph)")
        weights = doc.get("weights")
        self.weights = os.path.join(os.path.dirname(self.path), weights) if weights else None

    def _mu_shape(self, data):
        """Per-sample shape of mu: the data shape, or [L, K] for dirichlet-categorical."""
        shape = data.get("shape") if isinstance(data, dict) else None
        counts = isinstance(shape, list) and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)
        if not counts or not shape:
            raise ValueError(f"{self.path}: data.shape {shape!r}, expected a list of integers >= 1")
        if self.pair != "dirichlet-categorical":
            return tuple(shape)
        vocab = data.get("vocab")
        if len(shape) != 1 or not isinstance(vocab, str) or len(vocab) < 2:
            raise ValueError(f"{self.path}: dirichlet-categorical needs data.shape [L] and a "
                             "data.vocab of at least 2 symbols")
        return (shape[0], len(vocab))


def format_model(model, comment=""):
    """The text of a model YAML: `model` is the top-level mapping, in the order to write.

    Sections are one flow mapping a line, as in models/*/model.yaml; a section holding a
    list of mappings (the network's layers) is written as a block, one layer a line.
    """
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    for key, value in model.items():
        lines += _block(key, value, "")
    return "\n".join(lines) + "\n"


def _block(key, value, indent):
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [f"{indent}{key}:"] + [f"{indent}  - {_flow(v)}" for v in value]
    if isinstance(value, dict) and any(isinstance(v, list) and v and isinstance(v[0], dict)
                                       for v in value.values()):
        return [f"{indent}{key}:"] + [line for k, v in value.items()
                                      for line in _block(k, v, indent + "  ")]
    return [f"{indent}{key}: {_flow(value)}"]


# Plain scalars that a YAML reader would not take for a string.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_KEYWORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


def _flow(value):
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        plain = _PLAIN.fullmatch(value) and value.lower() not in _KEYWORDS
        return value if plain else json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {value!r} in a model YAML")


def _float(x):
    """A float both YAML 1.1 and 1.2 read as one: 1e-06 becomes 1.0e-06."""
    if not math.isfinite(x):
        raise ValueError(f"cannot write {x} in a model YAML")
    mantissa, _, exponent = repr(x).partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent and exponent[0] not in "+-":
        exponent = "+" + exponent
    return mantissa + ("e" + exponent if exponent else "")
