"""The forward process and losses of pmm.objective against their closed forms.

Statistical checks draw many mu_t for fixed x and t and compare the sample mean and
variance with the closed form within 5 standard errors (seeds fixed and printed in the
test ids); the loss checks compare exact posterior-mean networks with perturbed ones.
"""
import math

import numpy as np
import pytest
import torch

from pmm import Chain
from pmm.objective import Objective

SEED = 20261206
ROWS = 200000
SCHEDULE = {"kind": "geometric", "steps": 50, "start": 0.05, "end": 500.0}


def moments_match(draws, mean, var, what):
    """The sample mean and variance of draws [rows, ...] match mean and var elementwise
    within 5 standard errors (the variance's from the fourth moment), plus float32's
    rounding of the draws (1e-6 relative)."""
    draws = draws.double()
    n = draws.shape[0]
    m, v = draws.mean(0), draws.var(0)
    centred = draws - m
    m4 = centred.pow(4).mean(0)
    se_m = (v / n).sqrt()
    se_v = ((m4 - v * v) / n).clamp_min(1e-30).sqrt()
    assert torch.all((m - mean).abs() <= 5 * se_m + 1e-6 * torch.as_tensor(mean).abs()), \
        f"{what}: mean {m.tolist()} vs {torch.as_tensor(mean).tolist()} (seed {SEED})"
    assert torch.all((v - var).abs() <= 5 * se_v + 1e-6 * torch.as_tensor(var).abs() + 1e-12), \
        f"{what}: variance {v.tolist()} vs {torch.as_tensor(var).tolist()} (seed {SEED})"


@pytest.mark.parametrize("t", [0, 7, 30, 49])
def test_normal_normal_mu_t(t):
    chain = Chain("normal-normal", [3], SCHEDULE, prior={"mean": 0.5, "precision": 2.0})
    obj = Objective(chain)
    g = torch.Generator().manual_seed(SEED + t)
    x = torch.tensor([-1.0, 0.25, 3.0]).expand(ROWS, 3)
    mu = obj.draw_mu(x, torch.full((ROWS,), t), g)
    A = chain.A[t]
    lam = 2.0 + A
    moments_match(mu, (2.0 * 0.5 + A * x[0].double()) / lam, torch.full((3,), A / lam ** 2),
                  f"normal-normal t={t}")


@pytest.mark.parametrize("t", [0, 7, 30, 49])
def test_gamma_poisson_mu_t(t):
    chain = Chain("gamma-poisson", [3], SCHEDULE, prior={"shape": 1.5, "rate": 0.5})
    obj = Objective(chain)
    g = torch.Generator().manual_seed(SEED + t)
    x = torch.tensor([0.0, 0.7, 12.0]).expand(ROWS, 3)
    mu = obj.draw_mu(x, torch.full((ROWS,), t), g)
    A = chain.A[t]
    b = 0.5 + A
    moments_match(mu, (1.5 + A * x[0].double()) / b, A * x[0].double() / b ** 2,
                  f"gamma-poisson t={t}")


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_dirichlet_counts_and_mu(smoothing):
    chain = Chain("dirichlet-categorical", [2], SCHEDULE, vocab_size=4,
                  prior={"concentration": 0.5, "smoothing": smoothing})
    obj = Objective(chain)
    g = torch.Generator().manual_seed(SEED)
    t = 30
    x = torch.tensor([2, 0]).expand(ROWS, 2)
    counts = obj.draw_counts(x, torch.full((ROWS,), t), g)
    theta = torch.full((2, 4), smoothing / 4, dtype=torch.float64)
    theta[0, 2] += 1 - smoothing
    theta[1, 0] += 1 - smoothing
    rate = chain.A[t] * theta
    moments_match(counts, rate, rate, f"dirichlet counts eps={smoothing}")
    mu = obj.counts_mu(counts[:5])
    expect = (0.5 + counts[:5]) / (4 * 0.5 + counts[:5].sum(-1, keepdim=True))
    assert torch.allclose(mu.double(), expect, rtol=1e-6)
    assert torch.allclose(mu.sum(-1), torch.ones(5, 2), atol=1e-6)


def test_steps_are_uniform():
    chain = Chain("normal-normal", [1], SCHEDULE)
    t = Objective(chain).draw_t(ROWS, torch.Generator().manual_seed(SEED))
    counts = torch.bincount(t, minlength=50).double()
    assert t.min() >= 0 and t.max() <= 49
    expected = ROWS / 50
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 49 + 5 * math.sqrt(2 * 49), f"chi2 {chi2} over 49 dof (seed {SEED})"


# ---- losses of exact posterior means ---------------------------------------------------------

def mixture_posterior_mean(mu, A, means, std, lam0=1.0, m0=0.0):
    """E[x | mu_t] for x ~ equal mixture of N(means_k, std^2 I), per row (A per row)."""
    A = A.reshape(-1, 1).double()
    mu = mu.double()
    z = torch.where(A > 0, ((lam0 + A) * mu - lam0 * m0) / A.clamp_min(1e-30),
                    torch.zeros_like(mu))
    var = std ** 2 + 1 / A.clamp_min(1e-30)
    logits = torch.stack([-((z - m) ** 2).sum(1) / (2 * var[:, 0]) for m in means], 1)
    r = torch.softmax(logits, 1)
    parts = torch.stack([m + std ** 2 / var * (z - m) for m in means], 1)
    post = (r.unsqueeze(-1) * parts).sum(1)
    prior_mean = torch.stack(means).mean(0).expand_as(post)
    return torch.where(A > 0, post, prior_mean)


def loss_of(obj, net, x, seed):
    return obj.loss(net, x, torch.Generator().manual_seed(seed)).item()


def test_normal_normal_exact_network_has_lower_loss():
    chain = Chain("normal-normal", [2], SCHEDULE)
    obj = Objective(chain)
    means = [torch.tensor([-2.0, 0.0], dtype=torch.float64),
             torch.tensor([2.0, 1.0], dtype=torch.float64)]
    g = torch.Generator().manual_seed(SEED)
    k = torch.randint(0, 2, (50000,), generator=g)
    x = (torch.stack(means)[k] + 0.3 * torch.randn(50000, 2, generator=g,
                                                   dtype=torch.float64)).float()
    A_of = dict(zip(obj.tau.tolist(), obj.A.tolist()))

    def exact(mu, tau, shift=0.0):
        A = torch.tensor([A_of[v] for v in tau.tolist()], dtype=torch.float64)
        return (mixture_posterior_mean(mu, A, means, 0.3) + shift).float()

    base = loss_of(obj, exact, x, SEED + 1)
    for shift in (0.05, -0.05, 0.2):
        worse = loss_of(obj, lambda mu, tau, s=shift: exact(mu, tau, s), x, SEED + 1)
        assert base < worse, f"shift {shift}: exact {base} vs perturbed {worse} (seed {SEED})"


def atoms_posterior(log_lik, weights):
    """Posterior weights over atoms from per-atom log-likelihoods [rows, atoms]."""
    return torch.softmax(log_lik + torch.log(weights), 1)


def test_gamma_poisson_exact_network_has_lower_loss():
    chain = Chain("gamma-poisson", [3], SCHEDULE, prior={"shape": 1.0, "rate": 1.0})
    obj = Objective(chain)
    atoms = torch.tensor([[0.5, 4.0, 1.0], [3.0, 0.2, 2.0], [1.0, 1.0, 6.0]], dtype=torch.float64)
    weights = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    g = torch.Generator().manual_seed(SEED)
    x = atoms[torch.multinomial(weights, 50000, True, generator=g)].float()
    A_of = dict(zip(obj.tau.tolist(), obj.A.tolist()))

    def exact(mu, tau, scale=1.0):
        A = torch.tensor([A_of[v] for v in tau.tolist()], dtype=torch.float64).reshape(-1, 1)
        counts = torch.round(mu.double() * (1.0 + A) - 1.0)  # a_t = a0 + C, b_t = b0 + A
        log_lik = counts @ torch.log(atoms).T - A * atoms.sum(1)
        rate = atoms_posterior(log_lik, weights) @ atoms * scale
        return torch.log(torch.expm1(rate)).float()  # softplus^-1: the loss applies softplus

    base = loss_of(obj, exact, x, SEED + 1)
    for scale in (0.95, 1.05, 1.3):
        worse = loss_of(obj, lambda mu, tau, s=scale: exact(mu, tau, s), x, SEED + 1)
        assert base < worse, f"scale {scale}: exact {base} vs perturbed {worse} (seed {SEED})"


def test_dirichlet_exact_network_has_lower_loss():
    K, L = 4, 3
    chain = Chain("dirichlet-categorical", [L], SCHEDULE, vocab_size=K,
                  prior={"concentration": 0.5, "smoothing": 0.0})
    obj = Objective(chain)
    atoms = torch.tensor([[0, 1, 2], [0, 3, 3], [2, 1, 0]])
    weights = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    onehots = torch.nn.functional.one_hot(atoms, K).double()  # [atoms, L, K]
    g = torch.Generator().manual_seed(SEED)
    x = atoms[torch.multinomial(weights, 50000, True, generator=g)]

    def exact(mu, tau, temperature=1.0):
        # With smoothing 0 every position's counts sit on one symbol, so the smallest
        # mu at a position is beta / (K beta + N): that gives N and then the counts.
        mu = mu.double()
        total = 0.5 / mu.min(-1, keepdim=True).values - K * 0.5
        counts = torch.round(mu * (K * 0.5 + total) - 0.5)
        hits = torch.einsum("rlk,alk->ra", counts, onehots)
        consistent = hits == counts.sum((1, 2)).unsqueeze(1)  # no count off the atom
        log_post = torch.where(consistent, torch.log(weights), torch.full_like(hits, -1e30))
        p = torch.einsum("ra,alk->rlk", torch.softmax(log_post, 1), onehots)
        return (torch.log(p.clamp_min(1e-12)) / temperature).float()

    base = loss_of(obj, exact, x, SEED + 1)
    assert np.isfinite(base)
    for temperature in (0.7, 1.5):
        worse = loss_of(obj, lambda mu, tau, s=temperature: exact(mu, tau, s), x, SEED + 1)
        assert base < worse, f"temperature {temperature}: exact {base} vs {worse} (seed {SEED})"
