"""The PMM training objective: the forward process and the per-pair losses (docs/pmm.md).

Training never simulates the chain. For a data batch x it draws a step t uniformly from
{0, ..., T-1}, draws mu_t from its closed form given x, evaluates the network at
(mu_t, tau_t) and scores the prediction against x:

    normal-normal          mu_t = (lambda0 m0 + A_t x) / lambda_t + sqrt(A_t) / lambda_t eps
                           d = 1/2 ||x - xhat||^2
    gamma-poisson          mu_t = (a0 + Poisson(A_t x)) / (b0 + A_t)
                           d = sum [x log(x / xhat) - x + xhat]   (0 log 0 = 0)
    dirichlet-categorical  C_t ~ Poisson(A_t theta*), theta* = (1 - eps) onehot(x) + eps / K
                           mu_t = (beta + C_t) / (K beta + sum_k C_t)
                           d = sum_l KL(theta*_l || thetahat_l)

with xhat the pair's mapping of the network output (Chain.predict: softplus for
gamma-poisson, softmax then smoothing for dirichlet-categorical). Weighting "uniform"
(the default, the reweighted objective) uses d itself; "elbo" weights it by alpha_{t+1},
which makes the sum over t the chain's KL bound.

Losses are means over the batch of the per-example sums over data coordinates, so that
their scale does not depend on the batch size.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from .sample import has_own_activation

WEIGHTINGS = ("uniform", "elbo")


class Objective:
    """The forward process and loss of one Chain (pmm.Chain), as float32 torch tensors."""

    def __init__(self, chain, weighting="uniform"):
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting {weighting!r}, expected one of "
                             f"{', '.join(WEIGHTINGS)}")
        self.chain, self.weighting = chain, weighting
        A = chain.A  # float64, A[0] = 0 .. A[T]
        T = chain.steps
        self.A = torch.tensor(A[:T], dtype=torch.float64)
        self.tau = torch.tensor(np.log1p(A[:T]), dtype=torch.float32)
        self.alpha_next = torch.tensor(A[1:T + 1] - A[:T], dtype=torch.float32)

    # ---- the forward process ---------------------------------------------------------------

    def draw_t(self, rows, generator=None):
        """Steps t in {0, ..., T-1}, uniform, as an int64 tensor [rows]."""
        return torch.randint(0, self.chain.steps, (rows,), generator=generator)

    def draw_mu(self, x, t, generator=None):
        """mu_t [rows, *mu_shape] given data x [rows, *data_shape] (symbol indices for
        dirichlet-categorical) and steps t [rows], in closed form."""
        chain, prior = self.chain, self.chain.prior
        if chain.categorical:
            return self.counts_mu(self.draw_counts(x, t, generator))
        A = _per_row(self.A[t], x.dim())
        if chain.pair == "normal-normal":
            m0, l0 = float(prior["mean"]), float(prior["precision"])
            lam = l0 + A
            mean = (l0 * m0 + A * x.double()) / lam
            eps = torch.randn(x.shape, generator=generator, dtype=torch.float64)
            return (mean + A.sqrt() / lam * eps).float()
        a0, b0 = float(prior["shape"]), float(prior["rate"])  # gamma-poisson
        counts = torch.poisson(A * x.double(), generator=generator)
        return ((a0 + counts) / (b0 + A)).float()

    def draw_counts(self, x, t, generator=None):
        """Dirichlet-categorical counts C_t ~ Poisson(A_t theta*) [rows, L, K] (float64)."""
        A = _per_row(self.A[t], x.dim() + 1)
        return torch.poisson(A * self.target(x).double(), generator=generator)

    def counts_mu(self, counts):
        """mu = (beta + C) / (K beta + sum_k C) per position, as float32."""
        beta, K = float(self.chain.prior["concentration"]), self.chain.vocab_size
        return ((beta + counts) / (K * beta + counts.sum(-1, keepdim=True))).float()

    def target(self, x):
        """theta* [rows, L, K]: the smoothed one-hot of symbol indices x [rows, L]."""
        K, eps = self.chain.vocab_size, float(self.chain.prior["smoothing"])
        onehot = F.one_hot(x.long(), K).to(torch.float32)
        return (1.0 - eps) * onehot + eps / K if eps else onehot

    # ---- the loss -----------------------------------------------------------------------

    def divergence(self, output, x, output_is_rate=False):
        """d(x, xhat) per example [rows] from the raw network output [rows, ...].

        output_is_rate: for gamma-poisson, the output is already the rate (an output layer
        with its own activation, as the sampler treats it) and gets no softplus."""
        chain = self.chain
        rows = x.shape[0]
        out = output.reshape(rows, *chain.mu_shape)
        if chain.pair == "normal-normal":
            return 0.5 * (out - x).pow(2).reshape(rows, -1).sum(1)
        if chain.pair == "gamma-poisson":
            xhat = out if output_is_rate else F.softplus(out)
            log_xhat = torch.log(xhat.clamp_min(1e-30))
            xlogx = torch.where(x > 0, x * torch.log(x.clamp_min(1e-30)), torch.zeros_like(x))
            d = xlogx - x * log_xhat - x + xhat
            return d.reshape(rows, -1).sum(1)
        theta = self.target(x)
        eps = float(chain.prior["smoothing"])
        log_p = torch.log_softmax(out, -1)
        if eps:
            K = chain.vocab_size
            log_thetahat = torch.logaddexp(log_p + math.log1p(-eps),
                                           torch.full_like(log_p, math.log(eps / K)))
        else:
            log_thetahat = log_p
        entropy = torch.where(theta > 0, theta * torch.log(theta.clamp_min(1e-30)),
                              torch.zeros_like(theta))
        return (entropy - theta * log_thetahat).reshape(rows, -1).sum(1)

    def loss(self, network, x, generator=None):
        """The batch mean of w_t d(x, network(mu_t, tau_t)), t and mu_t drawn here."""
        t = self.draw_t(x.shape[0], generator)
        mu = self.draw_mu(x, t, generator)
        d = self.divergence(network(mu, self.tau[t]), x, has_own_activation(network))
        if self.weighting == "elbo":
            d = d * self.alpha_next[t]
        return d.mean()


def _per_row(values, dims):
    """values [rows] viewed as [rows, 1, ..., 1] with `dims` dimensions in all."""
    return values.reshape(values.shape[0], *([1] * (dims - 1)))
