"""pmm.export: a module's forward(mu, tau) written as a model YAML whose network computes what
the module computes, within 1e-4 (1 + |ref|): through pmm.load on fresh inputs of another batch
size, and through `pmmc predict` when pmmc is there ($PMMC, else build/pmmc; skipped without).
Unsupported operations raise UnsupportedOperation naming the node and its source line.

    PYTHONPATH=python /usr/bin/python3 -m pytest -q python/tests/test_export.py
"""
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pmm
from pmm.spec import read_yaml

SEED = 20261207
SCHEDULE = {"kind": "geometric", "steps": 20, "start": 0.01, "end": 1000.0}
VOCAB = "abcde"


# ---- the modules ---------------------------------------------------------------------------------

class MLP(nn.Module):
    """Points in 2-D: mu, tau and a sinusoidal time embedding concatenated, a residual MLP."""

    def __init__(self):
        super().__init__()
        self.temb = pmm.export.Sinusoidal(8)
        self.fc1 = nn.Linear(2 + 1 + 8, 32)
        self.fc2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 2)

    def forward(self, mu, tau):
        h = torch.cat([mu, tau[:, None], self.temb(tau)], dim=1)
        h = F.silu(self.fc1(h))
        h = h + torch.relu(self.fc2(h))
        return self.out(h)


class ConvNet(nn.Module):
    """1x8x8 images: GroupNorm with FiLM from the time embedding, a stride-2 conv, attention
    over the 4x4 pixels, nearest upsampling and a channel-concat skip."""

    def __init__(self):
        super().__init__()
        self.temb = pmm.export.Sinusoidal(16)
        self.time_mlp = nn.Sequential(nn.Linear(16, 32), nn.SiLU())
        self.conv_in = nn.Conv2d(1, 8, 3, padding=1)
        self.norm1 = nn.GroupNorm(4, 8)
        self.film = nn.Linear(32, 16)
        self.down = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.attn_norm = nn.GroupNorm(4, 16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.up = nn.Upsample(scale_factor=2)
        self.out = nn.Conv2d(24, 1, 3, padding=1)

    def forward(self, mu, tau):
        t = self.time_mlp(self.temb(tau))
        h = self.conv_in(mu)
        scale, shift = self.film(t)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.norm1(h) * (1 + scale) + shift)
        d = self.down(h)
        b, c, height, width = d.shape
        x = self.attn_norm(d).reshape(b, c, height * width).transpose(1, 2)
        x = self.attn(x, x, x, need_weights=False)[0]
        d = d + x.transpose(1, 2).reshape(b, c, height, width)
        return self.out(torch.cat([self.up(d), h], dim=1))


class Transformer(nn.Module):
    """Sequences [L, K]: expected embedding and learned positions, a DiT-style block
    (LayerNorm, adaLN shift and scale, attention, GELU-tanh MLP gated by a softmax over the
    positions), logits."""

    def __init__(self, length=6, symbols=len(VOCAB), width=16, heads=2):
        super().__init__()
        self.tok = nn.Parameter(torch.randn(symbols, width))
        self.pos = nn.Parameter(0.1 * torch.randn(1, length, width))
        self.temb = pmm.export.Sinusoidal(width, order="cos-sin")
        self.ada = nn.Linear(width, 2 * width)
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(approximate="tanh"),
                                 nn.Dropout(0.1), nn.Linear(4 * width, width))
        self.gate = nn.Linear(width, width)
        self.head = nn.Linear(width, symbols)

    def forward(self, mu, tau):
        x = mu @ self.tok + self.pos
        shift, scale = self.ada(F.silu(self.temb(tau))).unsqueeze(1).chunk(2, dim=-1)
        h = self.norm1(x) * (1 + scale) + shift
        x = x + self.attn(h, h, h)[0]
        gate = torch.softmax(self.gate(x), dim=1)
        x = x + 0.5 * self.mlp(self.norm2(x)) * gate
        return self.head(x)


def distributions(rows, length, generator):
    """Rows of [length, K] probabilities, as dirichlet-categorical's mu."""
    e = -torch.log(torch.rand(rows, length, len(VOCAB), generator=generator))
    return e / e.sum(-1, keepdim=True)


def case(name, rows, seed):
    """(module, mu, tau, export options) of a case; the module's tensors depend on SEED only,
    the inputs on seed."""
    torch.manual_seed(SEED)
    module = {"mlp": MLP, "conv": ConvNet, "transformer": Transformer}[name]()
    with torch.no_grad():  # norms' affine tensors other than their identity defaults
        for m in module.modules():
            if isinstance(m, (nn.GroupNorm, nn.LayerNorm)) and m.weight is not None:
                m.weight.normal_(1.0, 0.3)
                m.bias.normal_(0.0, 0.3)
    g = torch.Generator().manual_seed(seed)
    tau = 8 * torch.rand(rows, generator=g)
    if name == "transformer":
        return module, distributions(rows, 6, g), tau, {
            "pair": "dirichlet-categorical", "data": {"shape": [6], "vocab": VOCAB}}
    mu = torch.randn(rows, *((2,) if name == "mlp" else (1, 8, 8)), generator=g)
    return module, mu, tau, {"pair": "normal-normal"}


def exported(name, folder):
    """The case exported from 3 example rows: its module and YAML path."""
    module, mu, tau, options = case(name, 3, SEED + 1)
    path = pmm.export(module, mu, tau, folder / f"{name}.yaml", schedule=SCHEDULE,
                      weights=f"{name}.safetensors", **options)
    return module, Path(path)


def assert_close(out, ref):
    assert out.shape == ref.shape
    err = np.abs(np.asarray(out) - np.asarray(ref)) / (1 + np.abs(np.asarray(ref)))
    assert err.max() <= 1e-4, f"worst error {err.max():.3g} x (1 + |ref|)"


# ---- tests ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mlp", "conv", "transformer"])
def test_export_equals_module(name, tmp_path):
    module, path = exported(name, tmp_path)
    _, mu, tau, _ = case(name, 5, SEED + 2)  # another batch size than the examples'
    net = pmm.load(path)
    assert module.training  # export restores the mode; eval mode drops the dropout
    with torch.no_grad():
        ref, out = module.eval()(mu, tau), net(mu, tau)
    assert ref.abs().max() > 0.1  # a network that computes something
    assert_close(out.numpy(), ref.numpy())


def test_names_and_ops(tmp_path):
    """Modules keep their paths as layer and tensor names; the patterns map to single ops."""
    layers = {}
    for name in ("mlp", "conv", "transformer"):
        module, path = exported(name, tmp_path)
        spec = read_yaml(path)
        assert spec["name"] == name and spec["schedule"] == SCHEDULE
        layers[name] = {layer["name"]: layer for layer in spec["network"]["layers"]}
        tensors = set(pmm.load_weights(tmp_path / spec["weights"]))
        if name != "transformer":  # whose `tok` is an embed layer's weight, 0.5 a param
            assert tensors == set(module.state_dict())
    assert layers["mlp"]["temb"] == {"name": "temb", "op": "sinusoidal", "input": "time",
                                     "dim": 8}
    assert layers["mlp"]["cat"]["inputs"] == ["mu", "time", "temb"]
    assert [layers["mlp"][n]["op"] for n in ("fc1", "fc2", "out")] == ["dense"] * 3
    conv = layers["conv"]
    assert conv["time_mlp.0"]["op"] == "dense" and conv["time_mlp.1"]["op"] == "silu"
    assert conv["down"] == {"name": "down", "op": "conv2d", "channels": 16, "kernel": 3,
                            "stride": 2}
    assert [layer["op"] for layer in conv.values()].count("modulate") == 1
    assert conv["attn"] == {"name": "attn", "op": "attention", "heads": 2}
    assert [layer["op"] for layer in conv.values()].count("transpose") == 2
    dit = layers["transformer"]
    assert dit["tok"]["op"] == "embed" and dit["pos"] == {"name": "pos", "op": "param",
                                                          "shape": [6, 16]}
    assert dit["norm1"]["affine"] is False and dit["norm1"]["eps"] == 1e-6
    assert dit["mlp.1"]["op"] == "gelu-tanh" and "mlp.2" not in dit  # the dropout
    assert [layer for layer in dit.values() if layer["op"] == "softmax"][0]["axis"] == 0


class BatchNormNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1))
        self.encoder.add_module("bn1", nn.BatchNorm2d(4))
        self.out = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, mu, tau):
        return self.out(self.encoder(mu))


class BilinearNet(nn.Module):
    def forward(self, mu, tau):
        return F.interpolate(F.avg_pool2d(mu, 2), scale_factor=2, mode="bilinear")


class SortNet(nn.Module):
    def forward(self, mu, tau):
        return torch.sort(mu, dim=1)[0] * tau[:, None]


class BranchNet(nn.Module):
    def forward(self, mu, tau):
        if mu.sum() > 0:
            return mu
        return -mu


class TauNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.temb = pmm.export.Sinusoidal(4)

    def forward(self, mu, tau):
        return self.temb(1000 * tau)[:, :2] + mu


@pytest.mark.parametrize("module, shape, expected", [
    (BatchNormNet(), (1, 4, 4), ["call_module BatchNorm2d at 'encoder.bn1'",
                                 "self.out(self.encoder(mu))", "supported: AvgPool2d"]),
    (BilinearNet(), (1, 4, 4), ["call_function torch.nn.functional.interpolate",
                                "mode 'bilinear'", 'mode="bilinear")', "nearest"]),
    (SortNet(), (3,), ["call_function torch.sort (node 'sort'", "torch.sort(mu, dim=1)",
                       "supported: operator.add"]),
    (TauNet(), (2,), ["call_function operator.mul", "self.temb(1000 * tau)",
                      "reads tau, shape [N]", "tau[:, None]"]),
    (BranchNet(), (2,), ["cannot trace BranchNet.forward", "if mu.sum() > 0:",
                         "control flow"]),
], ids=["BatchNorm2d", "interpolate", "sort", "tau", "branch"])
def test_unsupported(module, shape, expected, tmp_path):
    path = tmp_path / "model.yaml"
    with pytest.raises(pmm.export.UnsupportedOperation) as caught:
        pmm.export(module, torch.randn(3, *shape), torch.rand(3), path, pair="normal-normal",
                   schedule=SCHEDULE)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert message.startswith("cannot ") and f"{__file__}:" in message
    for text in expected:
        assert text in message
    assert not path.exists()


class InPlaceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, mu, tau):
        h = self.fc(mu)
        return h + F.relu(h, inplace=True)  # h is relu(h) by the time it is added


def test_check_finds_a_difference(tmp_path):
    """The trace does not see that the in-place relu changes h: the check does."""
    torch.manual_seed(SEED)
    mu = torch.randn(4, 2, generator=torch.Generator().manual_seed(SEED))
    with pytest.raises(ValueError, match="differs from the module"):
        pmm.export(InPlaceNet(), mu, torch.rand(4), tmp_path / "model.yaml",
                   pair="normal-normal", schedule=SCHEDULE)
    pmm.export(InPlaceNet(), mu, torch.rand(4), tmp_path / "model.yaml", pair="normal-normal",
               schedule=SCHEDULE, check=False)


@pytest.mark.parametrize("name", ["mlp", "conv", "transformer"])
def test_pmmc_predict_equals_module(name, tmp_path, pmmc):
    _, path = exported(name, tmp_path)
    run = subprocess.run([pmmc, "check", str(path)], capture_output=True, text=True)
    assert run.returncode == 0 and not run.stdout + run.stderr, run.stderr
    module, mu, tau, _ = case(name, 3, SEED + 1)
    with torch.no_grad():
        ref = module.eval()(mu, tau).numpy()
    np.save(tmp_path / "mu.npy", mu.numpy())
    np.save(tmp_path / "tau.npy", tau.numpy())
    run = subprocess.run([pmmc, "predict", str(path), "--mu", str(tmp_path / "mu.npy"),
                          "--time", str(tmp_path / "tau.npy"), "-o", str(tmp_path / "out.npy"),
                          "--engine", "interp"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert_close(np.load(tmp_path / "out.npy"), ref)
