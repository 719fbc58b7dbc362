"""PyTorch and pmmc compute the same network: pmm.load(yaml)(mu, tau) against
`pmmc predict` with both engines, on fresh random inputs, within 1e-4 (1 + |ref|).

Cases: every per-op fixture (tests/fixtures/ops, with its random weights) and every shipped
graph model (models/*/model.yaml) with fresh random weights (PyTorch's default
initialisation, seeded), so trained weights are not needed for the check. pmmc is $PMMC,
else build/pmmc; without either the tests are skipped.
"""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import pmm
from pmm.spec import read_yaml

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261207
ROWS = 3


def shipped_graph_models():
    for yaml_path in sorted(ROOT.glob("models/*/model.yaml")):
        network = (read_yaml(yaml_path) or {}).get("network") or {}
        if network.get("kind") == "graph":
            yield yaml_path


CASES = [pytest.param(d / "model.yaml", False, id=f"op-{d.name}")
         for d in sorted((ROOT / "tests" / "fixtures" / "ops").iterdir())]
CASES += [pytest.param(p, True, id=f"model-{p.parent.name}") for p in shipped_graph_models()]


def random_inputs(net, pair, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (ROWS, *net.mu_shape)
    if pair == "dirichlet-categorical":
        rows = -torch.log(torch.rand(shape, generator=g))
        mu = rows / rows.sum(-1, keepdim=True)
    elif pair == "gamma-poisson":
        mu = 5 * torch.rand(shape, generator=g)
    else:
        mu = torch.randn(shape, generator=g)
    return mu, 8 * torch.rand(ROWS, generator=g)


def with_random_weights(yaml_path, folder, seed):
    """A copy of the model YAML in folder with fresh weights of the shipped structure:
    every module's PyTorch default initialisation (seeded), free parameters N(0, 0.5^2)."""
    copy = folder / "model.yaml"
    copy.write_text(yaml_path.read_text())
    net = pmm.load(yaml_path)
    torch.manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if module is not net and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        for owner in net.owners.values():
            if isinstance(owner, torch.nn.Parameter):
                owner.normal_(0.0, 0.5)
    pmm.save_weights(net, folder / read_yaml(yaml_path)["weights"])
    return copy


@pytest.mark.parametrize("yaml_path, reweight", CASES)
def test_pytorch_equals_pmmc_predict(yaml_path, reweight, tmp_path, pmmc):
    if reweight:
        yaml_path = with_random_weights(yaml_path, tmp_path, SEED)
    net = pmm.load(yaml_path)
    mu, tau = random_inputs(net, read_yaml(yaml_path)["pair"], SEED)
    with torch.no_grad():
        ref = net(mu, tau).numpy()
    np.save(tmp_path / "mu.npy", mu.numpy())
    np.save(tmp_path / "tau.npy", tau.numpy())
    for engine in ("interp", "compiled"):
        out_path = tmp_path / f"out-{engine}.npy"
        run = subprocess.run([pmmc, "predict", str(yaml_path), "--mu", str(tmp_path / "mu.npy"),
                              "--time", str(tmp_path / "tau.npy"), "-o", str(out_path),
                              "--engine", engine], capture_output=True, text=True)
        assert run.returncode == 0, f"pmmc predict --engine {engine}: {run.stderr}"
        out = np.load(out_path)
        assert out.shape == ref.shape, f"{engine}: shape {out.shape} vs {ref.shape}"
        err = np.abs(out - ref) / (1 + np.abs(ref))
        assert err.max() <= 1e-4, (f"{engine}: worst error {err.max():.3g} (x (1 + |ref|)) "
                                   f"at {np.unravel_index(err.argmax(), err.shape)} "
                                   f"(seed {SEED})")
    shutil.rmtree(tmp_path, ignore_errors=True)
