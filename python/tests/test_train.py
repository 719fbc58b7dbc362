"""python3 -m pmm.train: a tiny training run compiled by pmmc, interrupt and resume,
atomic checkpoints, settings and data formats.

The training runs use one thread and fixed seeds (printed in failures). The tiny run's
energy distance bound, 0.03, is twice the 0.015 it reaches (1,500 steps, 8 s); the same
network untrained gives 0.79, and two fresh two-moons sets about 0.
"""
import gzip
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import pmm
from pmm import metrics
from pmm.data import load_data, read_idx
from pmm.sample import Chain
from pmm.train import OPTIONS, learning_rate, parse_args, settings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "models" / "two-moons"))
from make_data import two_moons  # noqa: E402

SEED = 3
PYTHON = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "python")}

TINY = """name: tiny_moons
pair: normal-normal
data: {shape: [2]}
prior: {mean: 0.0, precision: 1.0}
schedule: {kind: geometric, steps: 100, start: 0.01, end: 10000}
sampler: {kind: pmm, output: posterior-mean}
network:
  kind: graph
  layers:
    - {name: temb, op: sinusoidal, input: time, dim: 16}
    - {name: h0, op: concat, inputs: [mu, temb]}
    - {name: fc1, op: dense, input: h0, units: 128, activation: silu}
    - {name: fc2, op: dense, units: 128, activation: silu}
    - {name: res, op: add, inputs: [fc1, fc2]}
    - {name: out, op: dense, units: 2}
  output: out
weights: model.safetensors
training: {data: moons.npy, steps: %d, batch: 256, lr: 3.0e-3, warmup: 100, seed: %d,
           threads: 1, log_every: 50, checkpoint_every: %d}
"""


def tiny_model(folder, steps=1500, checkpoint_every=1000):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "moons.npy", two_moons(20000, seed=SEED))
    path = folder / "model.yaml"
    path.write_text(TINY % (steps, SEED, checkpoint_every))
    return path


def train_cli(yaml_path, *args, **kwargs):
    return subprocess.run([PYTHON, "-m", "pmm.train", str(yaml_path), "--quiet", *args],
                          env=ENV, capture_output=True, text=True, **kwargs)


def test_tiny_training_run_compiles_to_a_good_sampler(tmp_path, pmmc):
    yaml_path = tiny_model(tmp_path)
    started = time.monotonic()
    run = train_cli(yaml_path, "--run-dir", str(tmp_path / "run"))
    assert run.returncode == 0, run.stderr
    train_s = time.monotonic() - started
    exe = tmp_path / "tiny"
    subprocess.run([pmmc, "build", str(yaml_path), "-o", str(exe)], check=True)
    subprocess.run([str(exe), "-n", "2000", "--seed", str(SEED), "-o",
                    str(tmp_path / "s.npy")], check=True)
    samples = np.load(tmp_path / "s.npy")
    distance = metrics.energy_distance(samples, two_moons(2000, seed=SEED + 100))
    floor = metrics.energy_distance(two_moons(2000, seed=SEED + 200),
                                    two_moons(2000, seed=SEED + 300))
    print(f"trained in {train_s:.1f} s; energy distance {distance:.5f}, floor {floor:.5f}")
    assert distance < 0.03, f"energy distance {distance} (floor {floor}, seed {SEED})"
    csv_rows = (tmp_path / "run" / "loss.csv").read_text().splitlines()
    assert csv_rows[0] == "step,loss,lr,examples_per_s,elapsed_s" and len(csv_rows) == 31
    first, last = (float(r.split(",")[1]) for r in (csv_rows[1], csv_rows[-1]))
    assert last < first


def wait_for_rows(csv_path, step, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.stderr.read()}")
        if csv_path.exists() and any(line.startswith(f"{step},")
                                     for line in csv_path.read_text().splitlines()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no loss.csv row for step {step} within {timeout} s")


def test_interrupt_then_resume_reproduces_the_run(tmp_path):
    steps = 800
    yaml_path = tiny_model(tmp_path, steps=steps, checkpoint_every=100000)
    straight = train_cli(yaml_path, "--run-dir", str(tmp_path / "a"), "--out",
                         str(tmp_path / "a.safetensors"))
    assert straight.returncode == 0, straight.stderr
    proc = subprocess.Popen([PYTHON, "-m", "pmm.train", str(yaml_path), "--run-dir",
                             str(tmp_path / "b"), "--out", str(tmp_path / "b.safetensors")],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_rows(tmp_path / "b" / "loss.csv", 200, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    stopped = torch.load(tmp_path / "b" / "checkpoint.pt")["step"]
    assert 200 <= stopped < steps and f"interrupted at step {stopped}" in err
    assert not (tmp_path / "b.safetensors").exists()
    resumed = train_cli(yaml_path, "--run-dir", str(tmp_path / "b"), "--out",
                        str(tmp_path / "b.safetensors"), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(tmp_path / "b" / "checkpoint.pt")["step"] == steps
    a, b = pmm.load_weights(tmp_path / "a.safetensors"), pmm.load_weights(tmp_path / "b.safetensors")
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    # One thread and the generator's state in the checkpoint: the same run, bit for bit.
    assert worst == 0.0, f"resumed weights differ from the straight run by {worst}"
    rows = [line.split(",") for line in (tmp_path / "b" / "loss.csv").read_text().splitlines()]
    straight_rows = [line.split(",") for line in
                     (tmp_path / "a" / "loss.csv").read_text().splitlines()]
    assert [r[0] for r in rows] == [r[0] for r in straight_rows]
    assert abs(float(rows[-1][1]) - float(straight_rows[-1][1])) <= 1e-6 * abs(
        float(straight_rows[-1][1]))


def test_checkpoints_are_never_half_written(tmp_path):
    """SIGKILL at moments spread over the writes of per-step checkpoints: what is left at
    checkpoint.pt always loads whole."""
    yaml_path = tiny_model(tmp_path, steps=100000, checkpoint_every=1)
    run_dir = tmp_path / "run"
    delays = np.random.default_rng(SEED).uniform(0.0, 0.3, 4)
    for i, delay in enumerate(delays):
        resume = ["--resume"] if i else []  # each run goes on from the last one's checkpoint
        proc = subprocess.Popen([PYTHON, "-m", "pmm.train", str(yaml_path), "--quiet",
                                 "--run-dir", str(run_dir), *resume], env=ENV)
        wait_for_rows(run_dir / "loss.csv", 50 * (i + 1), proc)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        state = torch.load(run_dir / "checkpoint.pt")  # a torn file would not load
        assert state["step"] >= 50 * (i + 1) and set(state) >= {"model", "ema", "optimizer"}, \
            f"kill {i} after {delay:.3f} s (seed {SEED})"


def test_settings_come_from_yaml_then_command_line(tmp_path):
    yaml_path = tiny_model(tmp_path, steps=123)
    doc = pmm.spec.read_yaml(yaml_path)
    s = settings(parse_args([str(yaml_path), "--lr", "0.5"]), doc, yaml_path)
    assert s["steps"] == 123 and s["lr"] == 0.5 and s["batch"] == 256
    assert s["data"] == str(tmp_path / "moons.npy") and s["ema"] == OPTIONS["ema"][1]
    doc["training"]["bogus"] = 1
    with pytest.raises(ValueError, match="training.bogus: unknown key"):
        settings(parse_args([str(yaml_path)]), doc, yaml_path)
    del doc["training"]["bogus"]
    with pytest.raises(ValueError, match="expected adam or adamw"):
        settings(parse_args([str(yaml_path), "--optimizer", "sgd"]), doc, yaml_path)
    run = train_cli(yaml_path, "--ema", "1.5")
    assert run.returncode == 1 and "ema 1.5, expected 0 <= ema < 1" in run.stderr


def test_learning_rate_warms_up_then_decays():
    s = {"lr": 1.0, "lr_min": 0.1, "warmup": 10, "steps": 110}
    assert learning_rate(s, 0) == pytest.approx(0.1)
    assert learning_rate(s, 9) == pytest.approx(1.0)
    assert learning_rate(s, 60) == pytest.approx(0.55)
    assert learning_rate(s, 110) == pytest.approx(0.1)


def write_idx(path, array, compress):
    codes = {np.dtype("uint8"): 0x08, np.dtype(">f4"): 0x0D}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape)
    raw = header + array.tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_images_are_scaled_and_reshaped(tmp_path, compress):
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    path = tmp_path / ("x.idx.gz" if compress else "x.idx")
    write_idx(path, images, compress)
    assert np.array_equal(read_idx(path), images)
    chain = Chain("normal-normal", [1, 4, 4], {"kind": "linear", "steps": 2, "start": 1,
                                               "end": 2})
    x = load_data(path, chain, scale=2 / 255, shift=-1.0)
    assert x.shape == (2, 1, 4, 4) and x.dtype == torch.float32
    assert x[1, 0, 3, 3].item() == pytest.approx(31 * 2 / 255 - 1)
    floats = np.linspace(0, 1, 32).astype(">f4").reshape(2, 16)
    write_idx(tmp_path / "f.idx", floats, False)
    assert torch.allclose(load_data(tmp_path / "f.idx", chain).reshape(2, 16),
                          torch.from_numpy(floats.astype(np.float32)))
    with pytest.raises(ValueError, match="do not fit"):
        load_data(path, Chain("normal-normal", [3], {"kind": "linear", "steps": 2,
                                                     "start": 1, "end": 2}))
    (tmp_path / "bad.idx").write_bytes(b"\x00\x00\x08\x02\x00\x00")
    with pytest.raises(ValueError, match="cut short"):
        read_idx(tmp_path / "bad.idx")


def test_text_lines_through_the_vocabulary(tmp_path):
    chain = Chain("dirichlet-categorical", [4], {"kind": "linear", "steps": 2, "start": 1,
                                                 "end": 2}, vocab_size=4)
    path = tmp_path / "w.txt"
    path.write_text("ab\nabcab\nbad\nca\n\ncab\n")
    with pytest.warns(UserWarning, match="skipped 3 line"):
        x = load_data(path, chain, vocab="_abc", padding=True)
    assert x.tolist() == [[1, 2, 0, 0], [3, 1, 0, 0], [3, 1, 2, 0]]


def test_gamma_poisson_data_must_be_non_negative(tmp_path):
    np.save(tmp_path / "c.npy", np.array([[1.0, -2.0]], dtype=np.float32))
    chain = Chain("gamma-poisson", [2], {"kind": "linear", "steps": 2, "start": 1, "end": 2})
    with pytest.raises(ValueError, match=">= 0"):
        load_data(tmp_path / "c.npy", chain)
