"""pmm.export: a PyTorch module as a pmmc model YAML and its safetensors weights.

    pmm.export(net, mu, tau, "model.yaml", pair="normal-normal",
               schedule={"kind": "geometric", "steps": 100, "start": 0.01, "end": 1e4})

traces net's forward(mu, tau) with torch.fx (fxgraph.py), writes the YAML with its graph
network and the weights beside it, then checks that pmm.load of the written YAML computes
what the module computes on the example inputs.
"""
import math
import os
import re

import torch

from .files import write_atomically
from .fxgraph import UnsupportedOperation, to_network
from .fxops import Sinusoidal
from .graph import load
from .safetensors import save_weights
from .spec import format_model

TOLERANCE = 1e-4  # of |exported - module| / (1 + |module|), the contract of pmmc predict


def export(module, example_mu, example_tau, path, *, pair, schedule, prior=None, sampler=None,
           data=None, name=None, weights="model.safetensors", check=True):
    """Write module's forward(mu [N, *mu shape], tau [N]) as the model YAML `path`, with its
    tensors in `weights` (relative to the YAML's folder); return `path`.

    `pair`, `schedule` and the optional `prior`, `sampler` and `data` mappings are written
    as given; `data` defaults to {shape: mu's per-sample shape} (dirichlet-categorical needs
    it, with `vocab`), `name` to the file's stem made a C identifier. The module is traced in
    eval mode (its modes are restored after). Raises UnsupportedOperation for the first
    operation no pmmc layer computes, and ValueError when `check` finds the written network
    differing from the module by more than TOLERANCE.
    """
    path = os.fspath(path)
    n = example_mu.shape[0]
    if example_mu.dim() < 2 or tuple(example_tau.shape) != (n,) or n < 2:
        raise ValueError(f"example mu {list(example_mu.shape)} and tau "
                         f"{list(example_tau.shape)}, expected [N, ...] and [N] with N >= 2 "
                         "(with N = 1 the batch axis is like any axis of 1)")
    name = name or _identifier(os.path.basename(path))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name):
        raise ValueError(f"name {name!r}, expected a C identifier of at most 64 characters")
    mu_shape = tuple(example_mu.shape[1:])
    data = _data(pair, data, mu_shape)
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        with torch.no_grad():
            network, tensors, out = to_network(module, example_mu, example_tau)
        if out not in (mu_shape, (math.prod(mu_shape),)):
            raise ValueError(f"the module's output has per-sample shape {list(out)}, expected "
                             f"mu's {list(mu_shape)} or [{math.prod(mu_shape)}]")
        model = {"name": name, "pair": pair, "data": data, "prior": prior,
                 "schedule": schedule, "sampler": sampler, "network": network,
                 "weights": weights}
        text = format_model({k: v for k, v in model.items() if v is not None},
                            f"Written by pmm.export from {type(module).__qualname__}.")
        save_weights(tensors, os.path.join(os.path.dirname(path), weights))
        write_atomically(path, lambda f: f.write(text.encode("utf-8")))
        if check:
            _compare(module, path, example_mu, example_tau)
    finally:
        for m, mode in modes.items():
            m.training = mode
    return path


export.Sinusoidal = Sinusoidal
export.UnsupportedOperation = UnsupportedOperation


def _data(pair, data, mu_shape):
    """The `data` mapping, checked against mu's per-sample shape."""
    if data is None:
        if pair == "dirichlet-categorical":
            raise ValueError("dirichlet-categorical needs data={'shape': [L], 'vocab': ...}")
        return {"shape": list(mu_shape)}
    shape = list(data.get("shape") or [])
    if pair == "dirichlet-categorical":
        vocab = data.get("vocab")
        shape += [len(vocab) if isinstance(vocab, str) else None]
    if tuple(shape) != mu_shape:
        raise ValueError(f"data {data} gives mu the per-sample shape {shape}, but the example "
                         f"mu has {list(mu_shape)}")
    return data


def _identifier(filename):
    name = re.sub(r"\W", "_", filename.rsplit(".", 1)[0], flags=re.ASCII) or "model"
    return ("_" + name if name[0].isdigit() else name)[:64]


def _compare(module, path, mu, tau):
    net = load(path)
    with torch.no_grad():
        ref = module(mu, tau).float()
        got = net(mu.float(), tau.float())
    err = ((got - ref).abs() / (1 + ref.abs())).max().item() if got.shape == ref.shape \
        else math.inf
    if not err <= TOLERANCE:
        raise ValueError(f"{path}: the written network differs from the module on the example "
                         f"inputs: worst error {err:.3g} x (1 + |ref|), expected at most "
                         f"{TOLERANCE}")
