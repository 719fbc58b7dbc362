"""The fixtures still match the package, and the package's formats and semantics.

    PYTHONPATH=python /usr/bin/python3 -m pytest -q python/tests
"""
import json
import math
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import pmm

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def fixture_cases():
    """(model.yaml, folder of mu/tau/out.npy) of every per-op case and shipped model."""
    cases = [pytest.param(d / "model.yaml", d, id=d.name)
             for d in sorted((FIXTURES / "ops").iterdir())]
    return cases + [pytest.param(ROOT / "models" / d.name / "model.yaml", d, id=d.name)
                    for d in sorted((FIXTURES / "models").iterdir())]


@pytest.mark.parametrize("yaml_path, folder", fixture_cases())
def test_fixture_reproduces(yaml_path, folder):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a tensor no layer uses is a stale fixture
        net = pmm.load(yaml_path)
    mu, tau, ref = (np.load(folder / f"{name}.npy") for name in ("mu", "tau", "out"))
    with torch.no_grad():
        out = net(torch.from_numpy(mu), torch.from_numpy(tau)).numpy()
    assert out.dtype == ref.dtype == np.float32
    assert out.shape == ref.shape
    # The contract pmmc is held to (README.md).
    assert np.all(np.abs(out - ref) <= 1e-4 * (1 + np.abs(ref)))


def graph(layers, mu_shape, **kwargs):
    return pmm.GraphNet({"kind": "graph", "layers": layers}, mu_shape, **kwargs).eval()


# ---- safetensors --------------------------------------------------------------------------

def test_safetensors_round_trip(tmp_path):
    tensors = {"b.weight": torch.randn(3, 4, 2, 5), "a": torch.randn(7),
               "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3), "c.bias": torch.randn(1)}
    path = tmp_path / "w.safetensors"
    pmm.save_weights(tensors, path, {"note": "test"})
    raw = path.read_bytes()
    (hlen,) = struct.unpack_from("<Q", raw)
    header = json.loads(raw[8:8 + hlen])
    assert hlen % 8 == 0 and header["__metadata__"] == {"note": "test"}
    names = [n for n in header if n != "__metadata__"]
    assert names == sorted(tensors)
    assert [header[n]["data_offsets"][0] for n in names] == [0] + [
        header[n]["data_offsets"][1] for n in names[:-1]]
    loaded = pmm.load_weights(path)
    assert list(loaded) == sorted(tensors)
    for name, tensor in tensors.items():
        assert loaded[name].dtype == torch.float32 and torch.equal(loaded[name], tensor)
    assert not list(tmp_path.glob("*.tmp"))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it


def write_raw(path, entries):
    """A safetensors file from (name, dtype, shape, bytes) in the order given."""
    header, at = {}, 0
    for name, dtype, shape, blob in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(blob)]}
        at += len(blob)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(e[3] for e in entries))


def test_safetensors_reads_f16_bf16_f64(tmp_path):
    values = np.array([1.5, -2.25, 0.0, 1024.0], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2")  # exact: 8 significant bits suffice
    write_raw(tmp_path / "w.safetensors", [
        ("half", "F16", [2, 2], values.astype("<f2").tobytes()),
        ("brain", "BF16", [4], bf16.tobytes()),
        ("double", "F64", [1, 4], values.astype("<f8").tobytes())])
    loaded = pmm.load_weights(tmp_path / "w.safetensors")
    for name, shape in (("half", (2, 2)), ("brain", (4,)), ("double", (1, 4))):
        assert loaded[name].dtype == torch.float32
        assert np.array_equal(loaded[name].numpy(), values.reshape(shape))


@pytest.mark.parametrize("entries, message", [
    ([("a", "F32", [2], bytes(8)), ("b", "I32", [1], bytes(4))], "dtype"),
    ([("a", "F32", [3], bytes(8))], "does not match"),
])
def test_safetensors_rejects(tmp_path, entries, message):
    write_raw(tmp_path / "w.safetensors", entries)
    with pytest.raises(ValueError, match=message):
        pmm.load_weights(tmp_path / "w.safetensors")


def test_safetensors_rejects_holes(tmp_path):
    path = tmp_path / "w.safetensors"
    write_raw(path, [("a", "F32", [1], bytes(4))])
    path.write_bytes(path.read_bytes() + bytes(4))
    with pytest.raises(ValueError, match="belong to no tensor"):
        pmm.load_weights(path)


# ---- building -----------------------------------------------------------------------------

def test_tensor_names_follow_layer_names():
    net = graph([{"name": "down.0.conv1", "op": "conv2d", "input": "mu", "channels": 4,
                  "kernel": 3},
                 {"name": "down.0.flat", "op": "reshape", "shape": [4, 9]},
                 {"name": "seq", "op": "transpose", "perm": [1, 0]},
                 {"name": "mid.attn", "op": "attention", "heads": 2},
                 {"name": "mid.type", "op": "dense", "units": 4},  # a method of nn.Module
                 {"name": "pos", "op": "param", "shape": [9, 4]}], (3, 3, 3),
                no_bias={"mid.type"})
    assert sorted(net.state_dict()) == [
        "down.0.conv1.bias", "down.0.conv1.weight", "mid.attn.in_proj_bias",
        "mid.attn.in_proj_weight", "mid.attn.out_proj.bias", "mid.attn.out_proj.weight",
        "mid.type.weight", "pos"]
    assert net(torch.randn(2, 3, 3, 3), torch.rand(2)).shape == (2, 9, 4)


def test_weights_decide_biases_and_param_may_have_batch_axis():
    layers = [{"name": "attn", "op": "attention", "input": "mu", "heads": 1},
              {"name": "fc", "op": "dense", "units": 3},
              {"name": "pos", "op": "param", "shape": [2, 3]},
              {"name": "out", "op": "add", "inputs": ["fc", "pos"]}]
    tensors = {"attn.in_proj_weight": torch.randn(12, 4), "attn.out_proj.weight": torch.randn(4, 4),
               "attn.out_proj.bias": torch.randn(4), "fc.weight": torch.randn(3, 4),
               "pos": torch.randn(1, 2, 3)}
    net = graph(layers, (2, 4), tensors=tensors)
    assert sorted(net.state_dict()) == sorted(tensors)
    assert torch.equal(net.state_dict()["pos"], tensors["pos"][0])
    assert net(torch.randn(3, 2, 4), torch.rand(3)).shape == (3, 2, 3)


@pytest.mark.parametrize("layer, message", [
    ({"name": "x", "op": "conv3d", "input": "mu"}, "layer 'x': unknown op 'conv3d'"),
    ({"name": "x", "op": "dense", "input": "mu", "units": 2, "bias": False},
     "layer 'x' \\(dense\\): unknown key 'bias'"),
    ({"name": "x", "op": "dense", "input": "mu"}, "layer 'x' \\(dense\\): missing key 'units'"),
    ({"name": "x", "op": "dense", "input": "y", "units": 2}, "layer 'x' \\(dense\\): input 'y'"),
    ({"name": "x", "op": "dense", "input": "mu", "units": 2.5}, "layer 'x' \\(dense\\): found 2.5"),
    ({"name": "x", "op": "conv2d", "input": "mu", "channels": 2, "kernel": 3},
     "expected \\[C, H, W\\]"),
    ({"name": "x", "op": "chunk", "input": "mu", "chunks": 4, "index": 3},
     "index 3 is out of range"),
    ({"name": "x", "op": "modulate", "input": "mu", "shift": "time"}, "missing key 'scale'"),
])
def test_errors_name_the_layer(layer, message):
    with pytest.raises(ValueError, match=message):
        graph([layer], (2, 5))


def test_yaml_is_read_as_yaml_1_2(tmp_path):
    (tmp_path / "model.yaml").write_text(
        "name: m\npair: normal-normal\ndata: {shape: [3]}\nnetwork:\n  kind: graph\n  layers:\n"
        "    - {name: n, op: layernorm, input: mu, eps: 1e-3}\n")
    layer = pmm.load(tmp_path / "model.yaml").layers[0]
    assert layer.eps == 1e-3


# ---- semantics, against PyTorch used directly -----------------------------------------------

def test_attention_is_multihead_attention():
    torch.manual_seed(0)
    net = graph([{"name": "attn", "op": "attention", "input": "mu", "heads": 4}], (5, 8))
    mha = nn.MultiheadAttention(8, 4, batch_first=True)
    mha.load_state_dict({k.removeprefix("attn."): v for k, v in net.state_dict().items()})
    mu = torch.randn(3, 5, 8)
    want = mha(mu, mu, mu, need_weights=False)[0]
    assert torch.allclose(net(mu, torch.rand(3)), want, atol=1e-6)


@pytest.mark.parametrize("order", ["sin-cos", "cos-sin"])
def test_sinusoidal_matches_the_float64_formula(order):
    net = graph([{"name": "s", "op": "sinusoidal", "input": "time", "dim": 12, "order": order}],
                (1,))
    tau = torch.tensor([0.0, 0.7, 4.9, 9.21], dtype=torch.float32)
    half = 6
    freqs = [math.exp(-math.log(10000) * j / half) for j in range(half)]
    angles = [[float(t) * f for f in freqs] for t in tau]
    sin = [[math.sin(a) for a in row] for row in angles]
    cos = [[math.cos(a) for a in row] for row in angles]
    rows = [s + c if order == "sin-cos" else c + s for s, c in zip(sin, cos)]
    assert np.array_equal(net(torch.zeros(4, 1), tau).numpy(), np.float32(rows))


def test_embed_of_one_hot_rows_is_a_lookup():
    net = graph([{"name": "e", "op": "embed", "input": "mu", "units": 3}], (4, 5))
    symbols = torch.tensor([[0, 4, 2, 2]])
    out = net(nn.functional.one_hot(symbols, 5).float(), torch.zeros(1))
    assert torch.equal(out, net.state_dict()["e.weight"][symbols])


def test_broadcasting_aligns_per_sample_axes():
    net = graph([{"name": "v", "op": "param", "shape": [3]},
                 {"name": "m", "op": "mul", "inputs": ["mu", "v", "time"]}], (2, 3))
    mu, tau = torch.randn(4, 2, 3), torch.rand(4)
    want = mu * net.state_dict()["v"] * tau[:, None, None]
    assert torch.equal(net(mu, tau), want)


def test_upsample_repeats_pixels():
    net = graph([{"name": "u", "op": "upsample", "input": "mu", "factor": 3}], (2, 3, 4))
    mu = torch.randn(1, 2, 3, 4)
    assert torch.equal(net(mu, torch.zeros(1)), mu.repeat_interleave(3, 2).repeat_interleave(3, 3))


def test_safetensors_saves_bf16_rounded_to_nearest_even(tmp_path):
    values = torch.tensor([1.0, -2.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.0e38, float("nan")])
    path = tmp_path / "w.safetensors"
    pmm.save_weights({"w": values}, path, dtype="BF16")
    raw = path.read_bytes()
    (hlen,) = struct.unpack_from("<Q", raw)
    assert json.loads(raw[8:8 + hlen])["w"]["dtype"] == "BF16"
    got = pmm.load_weights(path)["w"]
    # Ties go to the even mantissa: 1 + 2^-8 -> 1, 1 + 3 2^-8 -> 1 + 2^-6.
    assert got[:4].tolist() == [1.0, -2.5, 1.0, 1 + 2 ** -6]
    assert abs(got[4].item() - 3.0e38) <= 3.0e38 * 2 ** -8 and math.isnan(got[5].item())
    with pytest.raises(ValueError, match="expected F32 or BF16"):
        pmm.save_weights({"w": values}, path, dtype="F16")
