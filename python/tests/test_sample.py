"""pmm.sample: the pmm chain of compiler/lower/lower_sampler.c in PyTorch.

PyTorch's random numbers are not pmmc's, so the chain is checked by its maths: the
schedule and coefficient tables against the formulas, the network's inputs step by step,
and the laws of the final state for networks whose answer is known in closed form.
Every statistical test runs at a fixed seed, so it passes or fails the same way each time;
its bounds would be crossed by chance with probability about 1e-6 (5 standard errors) or
1e-4 (chi-square tests).

    PYTHONPATH=python /usr/bin/python3 -m pytest -q python/tests
"""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import pmm
from pmm.sample import _f32

ROOT = Path(__file__).resolve().parents[2]


# ---- helpers ---------------------------------------------------------------------------------

def chi2_sf(x, dof):
    """P(X > x) for X ~ chi-square(dof): the regularized upper incomplete gamma Q(dof/2, x/2)."""
    a, x = dof / 2.0, x / 2.0
    if x <= 0:
        return 1.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:  # series for P, Q = 1 - P
        term = total = 1.0 / a
        k = a
        while term > 1e-16 * total:
            k += 1
            term *= x / k
            total += term
        return 1.0 - math.exp(log_front) * total
    # Lentz's continued fraction for Q
    b, c, d = x + 1 - a, 1e300, 1.0 / (x + 1 - a)
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(log_front) * h


def test_chi2_sf():
    # Known quantiles: chi2(1) 3.841 -> 0.05, chi2(10) 23.209 -> 0.01, chi2(4) 0.711 -> 0.95.
    assert chi2_sf(3.841459, 1) == pytest.approx(0.05, abs=1e-6)
    assert chi2_sf(23.209251, 10) == pytest.approx(0.01, abs=1e-6)
    assert chi2_sf(0.710723, 4) == pytest.approx(0.95, abs=1e-6)


def pearson(observed, probabilities):
    """Pearson's chi-square p-value of counts against cell probabilities."""
    observed = np.asarray(observed, dtype=np.float64)
    expected = observed.sum() * np.asarray(probabilities, dtype=np.float64)
    assert expected.min() >= 5, "cells too small for the chi-square approximation"
    stat = float(((observed - expected) ** 2 / expected).sum())
    return chi2_sf(stat, len(observed) - 1)


def poisson_argmax_law(rates, cap=None):
    """P(argmax_k X_k = j) for independent X_k ~ Poisson(rates[k]), ties to the first index."""
    rates = np.asarray(rates, dtype=np.float64)
    cap = cap or int(rates.max() + 20 * math.sqrt(rates.max()) + 30)
    c = np.arange(cap + 1)
    pmf = np.exp(c[None, :] * np.log(rates[:, None]) - rates[:, None]
                 - np.array([math.lgamma(v + 1) for v in c])[None, :])
    cdf = np.cumsum(pmf, axis=1)              # P(X <= c)
    below = cdf - pmf                         # P(X < c)
    law = []
    for j in range(len(rates)):
        p = pmf[j].copy()
        for k in range(len(rates)):
            if k != j:
                p *= below[k] if k < j else cdf[k]
        law.append(p.sum())
    return np.array(law)


def normal_chain(steps=20, start=0.1, end=10.0, mean=0.0, precision=1.0, shape=(2,), **kw):
    return pmm.Chain("normal-normal", shape,
                     {"kind": "geometric", "steps": steps, "start": start, "end": end},
                     prior={"mean": mean, "precision": precision}, **kw)


def constant(value, shape):
    """A network answering `value` (broadcast to [rows, *shape]) whatever its input."""
    def net(mu, tau):
        return torch.full((mu.shape[0], *shape), value, dtype=torch.float32)
    return net


def within(values, mean, var, sigmas=5.0):
    """The sample mean and variance of `values` are within `sigmas` standard errors of
    a law with this mean and variance (the variance's standard error as for a normal)."""
    x = values.to(torch.float64).flatten()
    m = x.numel()
    assert abs(x.mean().item() - mean) <= sigmas * math.sqrt(var / m), (x.mean().item(), mean)
    assert abs(x.var().item() - var) <= sigmas * var * math.sqrt(2.0 / (m - 1)), (
        x.var().item(), var)


# ---- schedule and tables ---------------------------------------------------------------------

def test_schedule_values_match_the_formulas():
    geo = pmm.schedule_values({"kind": "geometric", "steps": 5, "start": 0.01, "end": 100})
    np.testing.assert_allclose(geo, [0.01, 0.1, 1, 10, 100], rtol=1e-12)
    lin = pmm.schedule_values({"kind": "linear", "steps": 4, "start": 1, "end": 7})
    np.testing.assert_allclose(lin, [1, 3, 5, 7], rtol=1e-15)
    kar = pmm.schedule_values({"kind": "karras", "steps": 3, "sigma_min": 0.01,
                               "sigma_max": 80})
    hi, lo = 80 ** (1 / 7), 0.01 ** (1 / 7)
    sig = np.array([hi, (hi + lo) / 2, lo]) ** 7
    np.testing.assert_allclose(kar, 1 / sig ** 2, rtol=1e-12)
    kar3 = pmm.schedule_values({"kind": "karras", "steps": 3, "sigma_min": 0.5,
                                "sigma_max": 2, "rho": 1})
    np.testing.assert_allclose(kar3, [1 / 4, 1 / 1.25 ** 2, 4], rtol=1e-15)
    tab = pmm.schedule_values({"kind": "table", "values": [0.5, 2, 8]})
    np.testing.assert_array_equal(tab, [0.5, 2, 8])


@pytest.mark.parametrize("schedule", [
    {"kind": "table", "values": [1, 1]},
    {"kind": "table", "values": [1, 2], "steps": 3},
    {"kind": "geometric", "steps": 1, "start": 1, "end": 2},
    {"kind": "linear", "steps": 3, "start": 0, "end": 2},
    {"kind": "sqrt", "steps": 3},
])
def test_bad_schedules_are_refused(schedule):
    with pytest.raises(ValueError):
        pmm.schedule_values(schedule)


def test_normal_tables_are_lower_coef():
    # lambda0 = 1, A = 0, 1, 3: step 1 lambda 1 -> 2 (alpha 1), step 2 lambda 2 -> 4 (alpha 2).
    chain = pmm.Chain("normal-normal", [1], {"kind": "table", "values": [1, 3]})
    t = chain.tables
    assert t["tau"] == [0.0, _f32(math.log(2))]
    assert t["coef_mu"] == [0.5, 0.5] and t["coef_xhat"] == [0.5, 0.5]
    assert t["coef_noise"] == [0.5, _f32(math.sqrt(2) / 4)]
    assert t["alpha"] == [1.0, 2.0]
    # every entry is a float32 value
    chain = normal_chain(steps=50, start=1e-3, end=1e4, precision=3.0)
    for values in chain.tables.values():
        assert all(v == float(np.float32(v)) for v in values)


def test_gamma_tables_are_lower_coef():
    chain = pmm.Chain("gamma-poisson", [1], {"kind": "table", "values": [1, 3]},
                      prior={"shape": 2.0, "rate": 1.0})
    assert chain.tables["gamma_mu"] == [0.5, 0.5]
    assert chain.tables["gamma_y"] == [0.5, 0.25]
    assert chain.init(3).tolist() == [[2.0]] * 3


def test_chain_from_the_shipped_yamls():
    unet = pmm.Chain.from_yaml(ROOT / "models" / "unet-tiny" / "model.yaml")
    assert unet.pair == "normal-normal" and unet.steps == 100 and unet.mu_shape == (1, 28, 28)
    assert unet.A[0] == 0 and unet.A[1] == pytest.approx(0.01) and unet.A[-1] == pytest.approx(1e4)
    dit = pmm.Chain.from_yaml(ROOT / "models" / "dit-tiny" / "model.yaml")
    assert dit.categorical and dit.steps == 200 and dit.mu_shape == (32, 27)
    assert dit.prior == {"concentration": 0.5, "smoothing": 0.0}


def test_unsupported_samplers_are_refused():
    with pytest.raises(NotImplementedError):
        normal_chain(sampler="heun")


# ---- what the network sees -------------------------------------------------------------------

class Recorder:
    """A network that records its inputs and answers a fixed function of them."""

    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def __call__(self, mu, tau):
        self.calls.append((mu.clone(), tau.clone()))
        return self.answer(mu, tau)


@pytest.mark.parametrize("output", ["posterior-mean", "prediction"])
def test_network_inputs_normal(output):
    chain = normal_chain(steps=7, mean=0.25, precision=2.0, output=output)
    net = Recorder(lambda mu, tau: 0.5 * mu)
    x = pmm.sample(chain, 3, network=net, batch=3)
    assert len(net.calls) == 7 + (output == "prediction")
    assert torch.equal(net.calls[0][0], torch.full((3, 2), 0.25))
    taus = [c[1] for c in net.calls]
    assert all(t.dtype == torch.float32 and t.shape == (3,) for t in taus)
    assert [t[0].item() for t in taus[:7]] == chain.tables["tau"]
    assert taus[0].eq(0).all()  # tau_0 = ln(1 + A_0) = 0
    if output == "prediction":
        assert taus[7][0].item() == _f32(math.log1p(10.0))
        assert torch.equal(x, 0.5 * net.calls[7][0])


def test_network_inputs_categorical():
    chain = pmm.Chain("dirichlet-categorical", [4], {"kind": "table", "values": [5, 10, 20]},
                      prior={"concentration": 0.5}, vocab_size=3)
    net = Recorder(lambda mu, tau: torch.zeros(mu.shape[0], 4, 3))
    counts = chain.run(net, 2, torch.Generator().manual_seed(0))
    assert counts.shape == (2, 4, 3)
    assert torch.equal(net.calls[0][0], torch.full((2, 4, 3), 1 / 3))
    # the network sees the Dirichlet mean of the counts before each step
    before = chain.init(2)
    gen = torch.Generator().manual_seed(0)
    for t in range(1, 4):
        mu = net.calls[t - 1][0]
        assert torch.allclose(mu, (0.5 + before) / (1.5 + before.sum(-1, keepdim=True)))
        assert torch.allclose(mu.sum(-1), torch.ones(2, 4))
        before = chain.step(lambda m, tau: torch.zeros(2, 4, 3), before, t, gen)
    assert torch.equal(before, counts)


# ---- laws of the chain -----------------------------------------------------------------------

def test_normal_constant_network_law():
    """xhat = c: lambda_T mu_T = lambda0 m0 + A_T c + sum_t sqrt(alpha_t) eps_t, so
    mu_T ~ N((lambda0 m0 + A_T c)/lambda_T, A_T/lambda_T^2) coordinate by coordinate."""
    m0, l0, c, a_t = 0.5, 2.0, 1.5, 10.0
    chain = normal_chain(steps=20, start=0.1, end=a_t, mean=m0, precision=l0, shape=(4,))
    x = pmm.sample(chain, 8192, network=constant(c, (4,)), seed=3, batch=512)
    assert x.shape == (8192, 4) and x.dtype == torch.float32
    lam = l0 + a_t
    within(x, (l0 * m0 + a_t * c) / lam, a_t / lam ** 2)


def test_normal_identity_network_law():
    """xhat = mu: the drift cancels (coef_mu + coef_xhat = 1), so mu_T is m0 plus the
    noise, N(m0, sum_t alpha_t/lambda_t^2)."""
    chain = normal_chain(steps=30, start=0.01, end=100.0, mean=-1.0, precision=1.0)
    x = pmm.sample(chain, 8192, network=lambda mu, tau: mu, seed=4, batch=1024)
    a = chain.A
    var = float(np.sum(np.diff(a) / (1.0 + a[1:]) ** 2))
    within(x, -1.0, var)


def test_gamma_constant_rate_law():
    """Rate c (softplus of the raw output): b_T mu_T = a0 + Poisson(A_T c)."""
    a0, b0, c, a_t = 2.0, 1.0, 0.7, 50.0
    chain = pmm.Chain("gamma-poisson", [3], {"kind": "linear", "steps": 25, "start": 1.0,
                                            "end": a_t}, prior={"shape": a0, "rate": b0})
    raw = math.log(math.expm1(c))  # softplus^-1(c)
    x = pmm.sample(chain, 8192, network=constant(raw, (3,)), seed=5, batch=1024)
    b_t = b0 + a_t
    within(x, (a0 + a_t * c) / b_t, a_t * c / b_t ** 2)
    # b_T mu_T - a0 is a count
    y = x.double() * b_t - a0
    assert torch.allclose(y, y.round(), atol=1e-3)


def test_gamma_output_activation_is_trusted():
    layers = [{"name": "out", "op": "dense", "input": "time", "units": 2}]
    for activation, expected in (("none", math.log1p(math.exp(2.0))), ("relu", 2.0)):
        net = pmm.GraphNet({"kind": "graph", "layers": [dict(layers[0], activation=activation)]},
                           (2,)).eval()
        with torch.no_grad():
            net.out.weight.zero_()
            net.out.bias.fill_(2.0)
            chain = pmm.Chain("gamma-poisson", [2], {"kind": "table", "values": [1.0]})
            rate = chain.predict(net, chain.init(1), 0.0)
        assert torch.allclose(rate, torch.full((1, 2), expected))


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_categorical_constant_logits_counts(smoothing):
    """p = softmax(logits) at every step: C_T[l, k] ~ Poisson(A_T thetahat_k), independent,
    so the pooled counts have symbol frequencies thetahat and each position's total is
    Poisson(A_T)."""
    logits = torch.tensor([1.0, 0.0, -1.0, 0.5, -2.0])
    k, length, a_t = 5, 6, 40.0
    chain = pmm.Chain("dirichlet-categorical", [length],
                      {"kind": "geometric", "steps": 50, "start": 0.01, "end": a_t},
                      prior={"concentration": 1.0, "smoothing": smoothing}, vocab_size=k)
    net = (lambda mu, tau: logits.expand(mu.shape[0], length, k).clone())
    counts = chain.run(net, 2000, torch.Generator().manual_seed(6))
    assert torch.equal(counts, counts.round()) and counts.min() >= 0
    theta = (1 - smoothing) * torch.softmax(logits.double(), 0) + smoothing / k
    assert pearson(counts.sum((0, 1)).numpy(), theta.numpy()) > 1e-4
    within(counts.sum(-1), a_t, a_t)


def test_categorical_constant_logits_symbols():
    """The output is argmax_k C_T per position, whose law for independent Poisson counts
    (ties to the first symbol) is computed exactly."""
    logits = torch.tensor([0.3, 0.0, -0.4, 0.2])
    k, length, a_t = 4, 8, 3.0
    chain = pmm.Chain("dirichlet-categorical", [length],
                      {"kind": "geometric", "steps": 40, "start": 0.01, "end": a_t},
                      vocab_size=k)
    net = (lambda mu, tau: logits.expand(mu.shape[0], length, k).clone())
    x = pmm.sample(chain, 4000, network=net, seed=7, batch=500)
    assert x.shape == (4000, length) and x.dtype == torch.float32
    law = poisson_argmax_law(a_t * torch.softmax(logits.double(), 0).numpy())
    assert law.sum() == pytest.approx(1.0, abs=1e-12)
    freq = np.bincount(x.flatten().long().numpy(), minlength=k)
    assert pearson(freq, law) > 1e-4


# ---- graph networks: shapes and finiteness ---------------------------------------------------

TINY = {
    "normal-normal": ({"shape": [1, 6, 6]}, {}, [
        {"name": "temb", "op": "sinusoidal", "input": "time", "dim": 8},
        {"name": "emb", "op": "dense", "units": 4},
        {"name": "emb_map", "op": "reshape", "shape": [4, 1, 1]},
        {"name": "conv", "op": "conv2d", "input": "mu", "channels": 4, "kernel": 3},
        {"name": "norm", "op": "groupnorm", "groups": 2, "activation": "silu"},
        {"name": "film", "op": "add", "inputs": ["norm", "emb_map"]},
        {"name": "out", "op": "conv2d", "channels": 1, "kernel": 3},
    ]),
    "gamma-poisson": ({"shape": [3]}, {"shape": 2.0, "rate": 1.0}, [
        {"name": "temb", "op": "sinusoidal", "input": "time", "dim": 4},
        {"name": "h", "op": "concat", "inputs": ["mu", "temb"]},
        {"name": "fc", "op": "dense", "units": 8, "activation": "silu"},
        {"name": "out", "op": "dense", "units": 3},
    ]),
    "dirichlet-categorical": ({"shape": [5], "vocab": "_ab"}, {"concentration": 0.5}, [
        {"name": "x", "op": "embed", "input": "mu", "units": 8},
        {"name": "attn", "op": "attention", "heads": 2},
        {"name": "out", "op": "dense", "units": 3},
    ]),
}


@pytest.mark.parametrize("pair", list(TINY))
@pytest.mark.parametrize("output", ["posterior-mean", "prediction"])
def test_tiny_graph_models(tmp_path, pair, output):
    data, prior, layers = TINY[pair]
    path = tmp_path / "model.yaml"
    path.write_text(pmm.format_model({
        "name": "tiny", "pair": pair, "data": data, "prior": prior,
        "schedule": {"kind": "geometric", "steps": 12, "start": 0.01, "end": 100.0},
        "sampler": {"kind": "pmm", "output": output},
        "network": {"kind": "graph", "layers": layers}}))
    torch.manual_seed(0)  # the default initialisation of a YAML without weights
    x = pmm.sample(path, 7, seed=1, batch=3)
    assert x.shape == (7, *data["shape"]) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    if pair == "dirichlet-categorical":
        assert torch.equal(x, x.round()) and x.min() >= 0 and x.max() < 3
    if pair == "gamma-poisson":
        assert (x >= 0).all()


@pytest.mark.parametrize("name, shape", [("unet-tiny", (1, 28, 28)), ("dit-tiny", (32,))])
def test_shipped_networks(name, shape):
    x = pmm.sample(ROOT / "models" / name / "model.yaml", 2, seed=1, batch=2, threads=1)
    assert x.shape == (2, *shape) and torch.isfinite(x).all()
    if name == "dit-tiny":
        assert torch.equal(x, x.round()) and x.min() >= 0 and x.max() < 27


# ---- the API ---------------------------------------------------------------------------------

def test_seed_batch_and_threads():
    chain = normal_chain(steps=5)
    net = constant(1.0, (2,))
    before = torch.get_num_threads()
    a = pmm.sample(chain, 10, network=net, seed=11, batch=4, threads=1)
    assert torch.get_num_threads() == before
    assert a.shape == (10, 2)
    assert torch.equal(a, pmm.sample(chain, 10, network=net, seed=11, batch=4))
    assert not torch.equal(a, pmm.sample(chain, 10, network=net, seed=12, batch=4))
    assert pmm.sample(chain, 0, network=net).shape == (0, 2)
    with pytest.raises(ValueError):
        pmm.sample(chain, 4)  # a Chain alone has no network
    with pytest.raises(ValueError):
        pmm.sample(chain, 4, network=net, batch=0)
