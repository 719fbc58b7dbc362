"""Train a model YAML's graph network with the PMM objective; write the weights pmmc compiles.

    PYTHONPATH=python /usr/bin/python3 -m pmm.train models/two-moons/model.yaml \\
        --data two-moons.npy --steps 4000

Each step draws a batch of examples (uniformly, with replacement), a step t and mu_t from
the forward process (pmm.objective), and takes one optimiser step on the loss: Adam or
AdamW, learning rate warm-up then cosine decay, gradient-norm clipping. An exponential
moving average (EMA) of the weights is what gets saved, to the YAML's `weights:` file
(or --out). The run directory (--run-dir, default pmm-runs/NAME) holds `loss.csv` and
`checkpoint.pt`, written every --checkpoint-every steps, at the end and on Ctrl-C, always
under a temporary name and renamed. `--resume` continues from the checkpoint; the same
seed and thread count reproduce a run bit for bit, interrupted or not.

Defaults come from the YAML's `training:` section (keys as the options, with '_' for
'-'; a relative `data` is relative to the YAML), then from the command line.
"""
import argparse
import csv
import io
import math
import os
import signal
import sys
import time
from pathlib import Path

import torch

from .data import load_data
from .files import write_atomically
from .graph import load
from .objective import WEIGHTINGS, Objective
from .safetensors import save_weights
from .sample import Chain
from .spec import read_yaml

# option -> (type, default, help); the YAML's `training:` section may set every one.
OPTIONS = {
    "data": (str, None, "training data: IDX (.gz or not), .npy, or text lines (.txt)"),
    "steps": (int, 10000, "optimiser steps in all"),
    "batch": (int, 128, "examples a step"),
    "lr": (float, 1e-3, "peak learning rate"),
    "lr_min": (float, 0.0, "learning rate at the end of the cosine decay"),
    "warmup": (int, 200, "steps of linear learning-rate warm-up"),
    "optimizer": (str, "adam", "adam or adamw"),
    "weight_decay": (float, 0.0, "decoupled weight decay (adamw)"),
    "clip": (float, 1.0, "gradient-norm clipping threshold (0: none)"),
    "ema": (float, 0.999, "EMA decay of the saved weights (0: save the raw weights)"),
    "weighting": (str, "uniform", "loss weighting: uniform or elbo"),
    "seed": (int, 0, "seed of initialisation, batches and noise"),
    "data_scale": (float, 1.0, "numeric data is mapped to scale x + shift"),
    "data_shift": (float, 0.0, "see --data-scale"),
    "threads": (int, None, "torch threads (default: PyTorch's)"),
    "log_every": (int, 100, "steps between loss.csv rows (and log lines off a terminal)"),
    "checkpoint_every": (int, 1000, "steps between checkpoints"),
}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python3 -m pmm.train",
        description="Train the graph network of a pmmc model YAML with the PMM objective.",
        epilog="Defaults: the YAML's `training:` section, then the values shown.")
    parser.add_argument("model", help="model YAML (pair, schedule, network, weights)")
    for key, (kind, default, text) in OPTIONS.items():
        shown = f" (default {default})" if default is not None else ""
        parser.add_argument("--" + key.replace("_", "-"), type=kind, default=None,
                            help=text + shown)
    parser.add_argument("--out", help="weights to write (default: the YAML's weights file)")
    parser.add_argument("--run-dir", help="checkpoint and loss.csv (default pmm-runs/NAME)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run directory's checkpoint")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser.parse_args(argv)


def settings(args, doc, yaml_path):
    """The run's settings: command line over the YAML's `training:` over the defaults."""
    section = doc.get("training") or {}
    if not isinstance(section, dict):
        raise ValueError(f"{yaml_path}: training: expected a mapping")
    unknown = sorted(set(section) - set(OPTIONS))
    if unknown:
        raise ValueError(f"{yaml_path}: training.{unknown[0]}: unknown key, expected one of "
                         f"{', '.join(OPTIONS)}")
    out = {}
    for key, (kind, default, _) in OPTIONS.items():
        value = getattr(args, key)
        if value is None and key in section:
            value = section[key]
            if key == "data":
                value = str(Path(yaml_path).parent / value)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"{yaml_path}: training.{key}: {value!r} is not "
                                 f"{'an integer' if kind is int else 'a ' + kind.__name__}")
        out[key] = default if value is None else value
    _check(out)
    return out


def _check(s):
    if s["data"] is None:
        raise ValueError("no training data: give --data PATH (or training.data in the YAML)")
    positive = ("steps", "batch", "log_every", "checkpoint_every")
    for key in positive:
        if s[key] < 1:
            raise ValueError(f"{key.replace('_', '-')} {s[key]}, expected >= 1")
    if not (s["lr"] > 0 and 0 <= s["lr_min"] <= s["lr"]):
        raise ValueError(f"lr {s['lr']} and lr-min {s['lr_min']}: expected 0 <= lr-min <= lr, lr > 0")
    if s["warmup"] < 0 or s["clip"] < 0 or s["weight_decay"] < 0:
        raise ValueError("warmup, clip and weight-decay must be >= 0")
    if not 0 <= s["ema"] < 1:
        raise ValueError(f"ema {s['ema']}, expected 0 <= ema < 1")
    if s["optimizer"] not in ("adam", "adamw"):
        raise ValueError(f"optimizer {s['optimizer']!r}, expected adam or adamw")
    if s["weighting"] not in WEIGHTINGS:
        raise ValueError(f"weighting {s['weighting']!r}, expected {' or '.join(WEIGHTINGS)}")
    if s["threads"] is not None and s["threads"] < 1:
        raise ValueError(f"threads {s['threads']}, expected >= 1")


def learning_rate(s, step):
    """Linear warm-up to lr over `warmup` steps, then cosine decay to lr_min at `steps`."""
    if step < s["warmup"]:
        return s["lr"] * (step + 1) / s["warmup"]
    span = max(1, s["steps"] - s["warmup"])
    progress = min(1.0, (step - s["warmup"]) / span)
    return s["lr_min"] + 0.5 * (s["lr"] - s["lr_min"]) * (1 + math.cos(math.pi * progress))


class Ema:
    """An exponential moving average of a module's floating-point state; its decay warms
    up as min(decay, (1 + n) / (10 + n)) so early weights do not linger."""

    def __init__(self, module, decay):
        self.decay, self.updates = decay, 0
        self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module):
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                self.state[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.state[k].copy_(v)


class Interrupt:
    """The first Ctrl-C (or SIGTERM) asks the loop to stop after the current step; a
    second one stops at once."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.saved = {sig: signal.signal(sig, self._handle)
                      for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)


class Progress:
    """A tqdm bar on a terminal, plain log lines otherwise (every log_every steps)."""

    def __init__(self, total, start, quiet, log_every):
        self.total, self.quiet, self.log_every = total, quiet, log_every
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)

    def update(self, step, loss, rate, eta):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4g}", ex_s=f"{rate:.0f}", refresh=False)
        elif not self.quiet and (step % self.log_every == 0 or step == self.total):
            print(f"step {step}/{self.total}  loss {loss:.5g}  {rate:.0f} examples/s  "
                  f"ETA {_duration(eta)}", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _duration(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


class LossLog:
    """loss.csv: step, mean loss since the previous row, learning rate, examples/s, seconds.
    On resume, rows after the checkpoint's step (written before an interruption) go."""

    FIELDS = ("step", "loss", "lr", "examples_per_s", "elapsed_s")

    def __init__(self, path, resume_step):
        self.path = path
        rows = []
        if resume_step and path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        text = io.StringIO()
        writer = csv.DictWriter(text, self.FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_atomically(path, lambda f: f.write(text.getvalue().encode()))
        self.file = open(path, "a", newline="")
        self.writer = csv.writer(self.file, lineterminator="\n")

    def row(self, *values):
        self.writer.writerow(values)
        self.file.flush()

    def close(self):
        self.file.close()


def save_checkpoint(path, step, net, ema, optimizer, generator, s, elapsed):
    state = {"step": step, "model": net.state_dict(), "ema": ema.state, "ema_updates":
             ema.updates, "optimizer": optimizer.state_dict(), "generator":
             generator.get_state(), "settings": s, "elapsed": elapsed}
    write_atomically(path, lambda f: torch.save(state, f))


def train(yaml_path, s, out=None, run_dir=None, resume=False, quiet=False):
    """Train; returns (final step, mean loss of the last log interval)."""
    doc = read_yaml(yaml_path)
    chain = Chain.from_yaml(yaml_path)
    data_doc = doc.get("data") or {}
    if s["threads"] is not None:
        torch.set_num_threads(s["threads"])
    torch.manual_seed(s["seed"])
    net = load(yaml_path).train()
    out = Path(out or net_weights_path(yaml_path, doc))
    run_dir = Path(run_dir or Path("pmm-runs") / str(doc.get("name", "model")))
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "checkpoint.pt"
    x = load_data(s["data"], chain, vocab=data_doc.get("vocab"),
                  padding=bool(data_doc.get("padding")), scale=s["data_scale"],
                  shift=s["data_shift"])
    objective = Objective(chain, s["weighting"])
    optim_class = torch.optim.AdamW if s["optimizer"] == "adamw" else torch.optim.Adam
    optimizer = optim_class(net.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    generator = torch.Generator().manual_seed(s["seed"])
    ema = Ema(net, s["ema"])
    step, elapsed = 0, 0.0
    if resume:
        if not ckpt_path.exists():
            raise ValueError(f"--resume: no checkpoint {ckpt_path}")
        state = torch.load(ckpt_path)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        ema.state, ema.updates = state["ema"], state["ema_updates"]
        step, elapsed = state["step"], state["elapsed"]
        if not quiet:
            print(f"resuming {ckpt_path} at step {step}", file=sys.stderr)
    log = LossLog(run_dir / "loss.csv", step if resume else 0)
    progress = Progress(s["steps"], step, quiet, s["log_every"])
    interval_loss, interval_steps, last_loss = 0.0, 0, float("nan")
    started, start_step = time.monotonic(), step
    checkpoint = lambda: save_checkpoint(ckpt_path, step, net, ema, optimizer,  # noqa: E731
                                         generator, s, elapsed + time.monotonic() - started)
    with Interrupt() as interrupt:
        while step < s["steps"] and not interrupt.requested:
            lr = learning_rate(s, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = x[torch.randint(0, x.shape[0], (s["batch"],), generator=generator)]
            loss = objective.loss(net, batch, generator)
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"step {step + 1}: the loss is {value}; "
                                         "lower --lr or check the data")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if s["clip"] > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), s["clip"])
            optimizer.step()
            ema.update(net)
            step += 1
            interval_loss += value
            interval_steps += 1
            seconds = time.monotonic() - started
            rate = (step - start_step) * s["batch"] / max(seconds, 1e-9)
            eta = (s["steps"] - step) * s["batch"] / max(rate, 1e-9)
            progress.update(step, value, rate, eta)
            if step % s["log_every"] == 0 or step == s["steps"]:
                last_loss = interval_loss / interval_steps
                log.row(step, f"{last_loss:.6g}", f"{lr:.6g}", f"{rate:.1f}",
                        f"{elapsed + seconds:.1f}")
                interval_loss, interval_steps = 0.0, 0
            if step % s["checkpoint_every"] == 0:
                checkpoint()
        checkpoint()
    progress.close()
    log.close()
    if step < s["steps"]:
        print(f"interrupted at step {step}: wrote {ckpt_path}; continue with --resume",
              file=sys.stderr)
        return step, last_loss
    weights = ema.state if s["ema"] > 0 else net.state_dict()
    save_weights(weights, out, metadata={"trained_steps": step, "seed": s["seed"],
                                         "final_loss": f"{last_loss:.6g}"})
    if not quiet:
        print(f"wrote {out} (step {step}, loss {last_loss:.5g})", file=sys.stderr)
    return step, last_loss


def net_weights_path(yaml_path, doc):
    weights = doc.get("weights")
    if not weights:
        raise ValueError(f"{yaml_path}: no weights: file to write (give --out PATH)")
    return os.path.join(os.path.dirname(os.fspath(yaml_path)), weights)


def main(argv=None):
    args = parse_args(argv)
    try:
        s = settings(args, read_yaml(args.model), args.model)
        step, _ = train(args.model, s, args.out, args.run_dir, args.resume, args.quiet)
    except (ValueError, FloatingPointError, OSError) as e:
        print(f"pmm.train: {e}", file=sys.stderr)
        return 1
    return 0 if step == s["steps"] else 130


if __name__ == "__main__":
    sys.exit(main())
