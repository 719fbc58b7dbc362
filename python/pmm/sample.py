"""The PMM chain pmmc compiles, in PyTorch: the eager baseline for bench/nets.

    samples = pmm.sample("models/unet-tiny/model.yaml", 256, seed=1, batch=64, threads=2)

runs the `pmm` sampler of a model YAML with its graph network (pmm.load) in float32,
eager mode, under torch.no_grad(), `batch` samples at a time: the same network, the same
batch and the same steps as `pmmc build --block-size 64`. Its maths is that of
compiler/lower/lower_sampler.c (docs/pmm.md, docs/samplers.md): the schedule's
coefficients are computed in double and rounded to float32 once, as pmmc's tables are.
Its random numbers are PyTorch's, not pmmc's Philox streams, so samples agree with
pmmc's in distribution only, never bit for bit.

Notation: A_0 = 0 < A_1 < ... < A_T (the schedule), alpha_t = A_t - A_{t-1},
lambda_s = lambda0 + A_s, b_s = b0 + A_s, tau_s = ln(1 + A_s). Step t = 1..T evaluates
the network at (state-derived mu, tau_{t-1}) and then

    normal-normal          mu_t = (lambda_{t-1}/lambda_t) mu + (alpha_t/lambda_t) xhat
                                  + (sqrt(alpha_t)/lambda_t) eps,   eps ~ N(0, I);  mu_0 = m0
    gamma-poisson          mu_t = (b_{t-1}/b_t) mu + (1/b_t) y,  y ~ Poisson(alpha_t xhat),
                                  xhat = softplus(output) (unless the output layer is a dense
                                  or conv2d layer with its own activation);  mu_0 = a0/b0
    dirichlet-categorical  state: counts C [L, K], C_0 = 0; the network sees
                                  mu = (beta + C)/(K beta + sum_k C) per position,
                                  p = softmax_K(logits), thetahat = (1 - eps) p + eps/K,
                                  C_t = C + Poisson(alpha_t thetahat)

Output: `posterior-mean` is mu_T (argmax_k C_T per position, as float symbol indices, for
dirichlet-categorical); `prediction` is the network at (mu_T, tau_T) (argmax_k p).

Only the `pmm` sampler is implemented (every pair); euler-maruyama and heun are not.
"""
import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F

from .spec import PAIRS, read_yaml

SCHEDULES = ("geometric", "linear", "karras", "table")
OUTPUTS = ("posterior-mean", "prediction")
PRIOR_DEFAULTS = {
    "normal-normal": {"mean": 0.0, "precision": 1.0},
    "gamma-poisson": {"shape": 1.0, "rate": 1.0},
    "dirichlet-categorical": {"concentration": 1.0, "smoothing": 0.0},
}


def schedule_values(schedule):
    """A_1..A_T (float64) of a YAML `schedule:` mapping, as spec_schedule_values computes them.

    geometric: start (end/start)^f, linear: start + (end - start) f, karras:
    sigma = (smax^(1/rho) + f (smin^(1/rho) - smax^(1/rho)))^rho and A = 1/sigma^2, with
    f = (t-1)/(T-1); table: the values. The result must be finite, positive and strictly
    increasing.
    """
    if not isinstance(schedule, dict):
        raise ValueError("schedule: expected a mapping")
    kind = schedule.get("kind")
    if kind not in SCHEDULES:
        raise ValueError(f"schedule.kind {kind!r}, expected one of {', '.join(SCHEDULES)}")
    if kind == "table":
        values = schedule.get("values")
        if not isinstance(values, list) or not values:
            raise ValueError("schedule.values: expected a non-empty list of numbers")
        a = np.array([_number(v, "schedule.values") for v in values], dtype=np.float64)
        if "steps" in schedule and schedule["steps"] != len(a):
            raise ValueError(f"schedule.steps {schedule['steps']!r}, expected {len(a)} "
                             "(the number of schedule.values)")
    else:
        steps = schedule.get("steps")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
            raise ValueError(f"schedule.steps {steps!r}, expected an integer >= 2")
        f = np.arange(steps, dtype=np.float64) / (steps - 1)
        if kind == "karras":
            lo = _number(schedule.get("sigma_min"), "schedule.sigma_min")
            hi = _number(schedule.get("sigma_max"), "schedule.sigma_max")
            rho = _number(schedule.get("rho", 7.0), "schedule.rho")
            top, bottom = hi ** (1.0 / rho), lo ** (1.0 / rho)
            sigma = (top + f * (bottom - top)) ** rho
            a = 1.0 / (sigma * sigma)
        else:
            start = _number(schedule.get("start"), "schedule.start")
            end = _number(schedule.get("end"), "schedule.end")
            if kind == "geometric":
                a = start * (end / start) ** f
            else:
                a = start + (end - start) * f
    if not (np.all(np.isfinite(a)) and np.all(a > 0) and np.all(np.diff(a) > 0)):
        raise ValueError(f"the {kind} schedule's A_t are not finite, positive and strictly "
                         "increasing")
    return a


def _number(value, what):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{what}: found {value!r}, expected a finite number > 0")
    return float(value)


def _f32(x):
    """A double rounded to float32, as a Python float (exactly representable)."""
    return float(np.float32(x))


class Chain:
    """Everything of a model but the network: pair, shapes, prior, schedule, output.

    Build it from a model YAML (Chain.from_yaml) or directly:
    Chain("normal-normal", [2], schedule={"kind": "geometric", "steps": 100, "start": 0.01,
    "end": 1e4}, prior={"mean": 0.0, "precision": 1.0}). For dirichlet-categorical
    `data_shape` is [L] and `vocab_size` is K.

    The per-step coefficients (`tables`, index t-1 for step t) are float32 values
    computed in double, exactly as pmmc's lowering stores them.
    """

    def __init__(self, pair, data_shape, schedule, prior=None, vocab_size=None,
                 output="posterior-mean", sampler="pmm"):
        if pair not in PAIRS:
            raise ValueError(f"pair {pair!r}, expected one of {', '.join(PAIRS)}")
        if sampler != "pmm":
            raise NotImplementedError(f"sampler {sampler!r}: only the pmm sampler is "
                                      "implemented in PyTorch")
        if output not in OUTPUTS:
            raise ValueError(f"output {output!r}, expected one of {', '.join(OUTPUTS)}")
        self.pair, self.output = pair, output
        self.data_shape = tuple(int(d) for d in data_shape)
        if not self.data_shape or min(self.data_shape) < 1:
            raise ValueError(f"data shape {list(data_shape)}, expected positive extents")
        self.categorical = pair == "dirichlet-categorical"
        if self.categorical:
            if len(self.data_shape) != 1 or not isinstance(vocab_size, int) or vocab_size < 2:
                raise ValueError("dirichlet-categorical needs a data shape [L] and a "
                                 "vocab_size K >= 2")
            self.vocab_size = vocab_size
            self.mu_shape = (self.data_shape[0], vocab_size)
        else:
            self.vocab_size = None
            self.mu_shape = self.data_shape
        self.prior = dict(PRIOR_DEFAULTS[pair])
        unknown = sorted(set(prior or {}) - set(self.prior))
        if unknown:
            raise ValueError(f"prior: unknown key {unknown[0]!r} for {pair}, expected "
                             f"{', '.join(self.prior)}")
        self.prior.update(prior or {})
        smoothing = self.prior.get("smoothing", 0.0)
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"prior.smoothing {smoothing!r}, expected 0 <= eps < 1")
        # A[0] = 0, A[1..T] from the schedule, in double.
        self.A = np.concatenate([[0.0], schedule_values(schedule)])
        self.steps = len(self.A) - 1
        self.tables = self._tables()

    @classmethod
    def from_yaml(cls, path):
        """The chain of the model YAML at `path` (data, prior, schedule and sampler)."""
        doc = read_yaml(path)
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
        sampler = doc.get("sampler") or {}
        vocab = data.get("vocab")
        return cls(doc.get("pair"), data.get("shape") or (), doc.get("schedule"),
                   prior=doc.get("prior"),
                   vocab_size=len(vocab) if isinstance(vocab, str) else None,
                   output=sampler.get("output", "posterior-mean"),
                   sampler=sampler.get("kind", "pmm"))

    def _tables(self):
        A, T = self.A, self.steps
        t = np.arange(1, T + 1)
        alpha = A[t] - A[t - 1]
        tables = {"tau": np.log1p(A[t - 1]), "alpha": alpha}
        if self.pair == "normal-normal":
            l0 = float(self.prior["precision"])
            lam, lam_prev = l0 + A[t], l0 + A[t - 1]
            tables.update(coef_mu=lam_prev / lam, coef_xhat=alpha / lam,
                          coef_noise=np.sqrt(alpha) / lam)
        elif self.pair == "gamma-poisson":
            b0 = float(self.prior["rate"])
            b, b_prev = b0 + A[t], b0 + A[t - 1]
            tables.update(gamma_mu=b_prev / b, gamma_y=1.0 / b)
        return {name: [_f32(v) for v in values] for name, values in tables.items()}

    # ---- the chain, one batch at a time --------------------------------------------------

    def init(self, rows):
        """The state before step 1: mu_0 [rows, *data_shape], or zero counts [rows, L, K]."""
        if self.pair == "normal-normal":
            value = _f32(self.prior["mean"])
        elif self.pair == "gamma-poisson":
            value = _f32(self.prior["shape"] / self.prior["rate"])
        else:
            value = 0.0
        return torch.full((rows, *self.mu_shape), value, dtype=torch.float32)

    def mu(self, state):
        """The network's mu input: the state, or the Dirichlet mean of the counts."""
        if not self.categorical:
            return state
        beta = _f32(self.prior["concentration"])
        kb = _f32(np.float32(self.vocab_size) * np.float32(beta))
        return (beta + state) / (kb + state.sum(-1, keepdim=True))

    def predict(self, network, state, tau):
        """The pair's mapping of the network at (mu(state), tau): xhat, the Poisson rate
        xhat, or the per-position probabilities p."""
        rows = state.shape[0]
        out = network(self.mu(state), torch.full((rows,), tau, dtype=torch.float32))
        out = out.reshape(rows, *self.mu_shape)
        if self.pair == "gamma-poisson" and not has_own_activation(network):
            out = F.softplus(out)
        elif self.categorical:
            out = torch.softmax(out, -1)
        return out

    def step(self, network, state, t, generator=None):
        """State after step t (1..T) from the state after step t - 1."""
        i = t - 1
        tau = self.tables["tau"][i]
        x = self.predict(network, state, tau)
        if self.pair == "normal-normal":
            eps = torch.randn(state.shape, generator=generator, dtype=torch.float32)
            return (self.tables["coef_mu"][i] * state + self.tables["coef_xhat"][i] * x
                    + self.tables["coef_noise"][i] * eps)
        if self.categorical:
            eps = float(self.prior["smoothing"])
            if eps != 0.0:
                x = _f32(1.0 - eps) * x + _f32(eps / self.vocab_size)
        y = torch.poisson(self.tables["alpha"][i] * x, generator=generator)
        if self.pair == "gamma-poisson":
            return self.tables["gamma_mu"][i] * state + self.tables["gamma_y"][i] * y
        return state + y

    def final(self, network, state):
        """A batch of samples from the state after step T."""
        if self.output == "prediction":
            state = self.predict(network, state, _f32(math.log1p(self.A[-1])))
        if self.categorical:
            state = state.argmax(-1).to(torch.float32)
        return state.reshape(state.shape[0], *self.data_shape)

    def run(self, network, rows, generator=None):
        """The state after step T for `rows` chains (float32, eager, no autograd)."""
        with torch.no_grad():
            state = self.init(rows)
            for t in range(1, self.steps + 1):
                state = self.step(network, state, t, generator)
            return state


def has_own_activation(network):
    """Whether a graph network's output layer is dense or conv2d with an activation, whose
    value pmmc then takes as the gamma-poisson rate without a softplus."""
    layers = getattr(network, "layers", None)
    output = getattr(network, "output", None)
    for layer in layers or ():
        if layer.name == output:
            return layer.op in ("dense", "conv2d") and layer.activation != "none"
    return False


@contextlib.contextmanager
def torch_threads(threads):
    """torch.set_num_threads(threads) for the duration (None: leave it)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def sample(model, n, *, network=None, seed=0, batch=64, threads=None):
    """n samples of a model's pmm chain, as a float32 tensor [n, *data.shape].

    model:   a model YAML path, or a Chain.
    network: a callable (mu [rows, *mu_shape], tau [rows]) -> output whose element count
             per row is the state's (logits [L, K] for dirichlet-categorical); default
             pmm.load(model), which needs a YAML path with a graph network.
    seed:    seeds a torch.Generator; sample i depends on (seed, batch, i).
    batch:   chains run together (pmmc's --block-size); the last batch may be smaller.
    threads: torch.set_num_threads for the call (None: PyTorch's current setting).
    """
    if isinstance(model, Chain):
        chain = model
        if network is None:
            raise ValueError("sample(Chain, ...) needs network=")
    else:
        chain = Chain.from_yaml(model)
        if network is None:
            from .graph import load
            network = load(model)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n {n!r}, expected an integer >= 0")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"batch {batch!r}, expected an integer >= 1")
    generator = torch.Generator().manual_seed(seed)
    if isinstance(network, torch.nn.Module):
        network.eval()
    parts = []
    with torch.no_grad(), torch_threads(threads):
        for first in range(0, n, batch):
            rows = min(batch, n - first)
            parts.append(chain.final(network, chain.run(network, rows, generator)))
    if not parts:
        return torch.empty((0, *chain.data_shape), dtype=torch.float32)
    return torch.cat(parts)

