"""The PyTorch Laplacian estimators against nested autodiff and against the loop baseline
(float64 on CPU).

Parameterized over the registry: every PyTorch estimator that supplies ``"laplacian"`` is
tested here the moment it is registered, and must be classified below as an index-set
(SDGD-family) or a Hutchinson estimator so that its variance law is tested.  The variance
formulas and their derivations are in ``tests/estimators/test_laplacian.py`` (reused).

- exact: index-set estimators with ``samples >= d`` equal tr H from JAX's nested
  ``jacfwd`` on random MLPs and the other coupled smooth test functions;
- the same index set: with the same generator seed they equal ``sdgd-backward-torch``
  (the same ``randperm`` draw) to 1e-10, values and parameter gradients;
- unbiased (mean of many draws within 4 standard errors of tr H) with the SDGD
  without-replacement variance law, resp. the Hutchinson 1/|V| law;
- an op with no forward-mode rule is a ValueError naming it and the reverse-mode estimator.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import estimators
from tests.estimators import functions as F
from tests.estimators.test_laplacian import (
    _hessian_at_first_point,
    _setup,
    nested_hessian,
    sdgd_variance,
)

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

torch = pytest.importorskip("torch")

BASELINE = "sdgd-backward-torch"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: threads only add contention (the tests call the estimators thousands
    of times); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _ids(stochastic: bool | None = None) -> list[str]:
    out = []
    for name in estimators.names():
        cls = estimators.REGISTRY.factory(name)
        if cls.backend == "torch" and "laplacian" in cls.operators and not cls.floor:
            if stochastic is None or cls.stochastic == stochastic:
                out.append(name)
    return out


TORCH_LAPLACIAN = _ids()
# How each stochastic estimator randomizes (see test_every_torch_estimator_is_classified).
INDEX_SET = [n for n in (BASELINE, "sdgd-parallel-torch", "stde-torch") if n in TORCH_LAPLACIAN]
HUTCHINSON = [n for n in ("hte-torch",) if n in TORCH_LAPLACIAN]
FORWARD_MODE = [n for n in ("stde-torch", "hte-torch") if n in TORCH_LAPLACIAN]


def generator(seed: int):
    return torch.Generator().manual_seed(seed)


def draws(name: str, samples: int, f, x, n: int, seed: int) -> np.ndarray:
    """n independent estimates at the rows of x (one generator, drawn n times): (n, N)."""
    est, g = estimators.get(name, samples=samples), generator(seed)
    return np.stack([est.laplacian(f, x, generator=g).detach().numpy() for _ in range(n)])


def _torch_setup(fn: str, dim: int):
    """(torch f, torch points, JAX's exact Laplacians at those points)."""
    _, xs, exact = _setup(fn, dim)
    return F.make(fn, dim, backend="torch"), torch.tensor(np.asarray(xs)), exact


def test_every_torch_estimator_is_classified():
    stochastic = set(_ids(stochastic=True))
    unclassified = sorted(stochastic - set(INDEX_SET) - set(HUTCHINSON))
    assert not unclassified, (
        f"stochastic PyTorch Laplacian estimators {unclassified} are not listed in "
        "INDEX_SET or HUTCHINSON in this file, so their variance law is untested"
    )
    assert {"sdgd-parallel-torch", "stde-torch", "hte-torch"} <= set(TORCH_LAPLACIAN)


# --- exactness -------------------------------------------------------------------------


@pytest.mark.parametrize("dim", (3, 8))
@pytest.mark.parametrize("fn", F.FUNCTIONS)
@pytest.mark.parametrize("name", INDEX_SET)
def test_index_set_estimators_exact_when_samples_cover_all_dims(name, fn, dim):
    f, x, exact = _torch_setup(fn, dim)
    got = estimators.get(name, samples=dim).laplacian(f, x)  # no generator needed
    assert got.dtype == torch.float64 and got.shape == (x.shape[0],)
    np.testing.assert_allclose(got.detach().numpy(), exact, rtol=1e-10, atol=1e-10)
    more = estimators.get(name, samples=dim + 3).laplacian(f, x, generator=generator(0))
    np.testing.assert_allclose(more.detach().numpy(), exact, rtol=1e-10, atol=1e-10)


class _LayerNormByDefinition(torch.nn.LayerNorm):
    """nn.LayerNorm computed from primitives (mean, variance, rsqrt): the reference."""

    def forward(self, x):
        centered = x - x.mean(-1, keepdim=True)
        variance = (centered * centered).mean(-1, keepdim=True)
        return centered * torch.rsqrt(variance + self.eps) * self.weight + self.bias


def _layered_network(dim: int, norm=torch.nn.LayerNorm):
    """f: (N, d) -> (N,) from torch.nn layers (Linear, SiLU, Softplus, LayerNorm, GELU) and
    its parameters; ``norm`` picks torch's LayerNorm or the one by definition."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(dim, 12),
            torch.nn.SiLU(),
            torch.nn.Linear(12, 12),
            torch.nn.Softplus(),
            norm(12),
            torch.nn.Linear(12, 12),
            torch.nn.GELU(),
            torch.nn.Linear(12, 1),
        ).double()
        for p in net[4].parameters():  # LayerNorm's weight and bias, away from (1, 0)
            p.data.uniform_(0.5, 1.5)
    return (lambda x: (1.0 - (x * x).sum(-1)) * net(x).squeeze(-1)), list(net.parameters())


@pytest.mark.parametrize("name", INDEX_SET)
def test_exact_on_a_network_of_torch_nn_layers(name):
    dim = 6
    f, _ = _layered_network(dim)
    x = torch.tensor(F.points(dim, 4))
    hessians = torch.func.vmap(torch.func.hessian(lambda y: f(y[None])[0]))(x)  # reverse mode
    exact = torch.diagonal(hessians, dim1=-2, dim2=-1).sum(-1).detach()
    got = estimators.get(name, samples=dim).laplacian(f, x)
    np.testing.assert_allclose(got.detach().numpy(), exact.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", [n for n in INDEX_SET if n != BASELINE])
def test_layer_norm_parameter_gradients_are_right(name):
    """With nn.LayerNorm the gradients w.r.t. every parameter equal those of the same network
    with LayerNorm written from primitives, through the loop baseline.  (torch's own
    LayerNorm would give wrong ones: its double backward is wrong at third order, and its
    nested forward mode at second order; test_torchs_layer_norm_rules_are_wrong.)"""
    dim, samples = 6, 3
    x = torch.tensor(F.points(dim, 4))
    grads = {}
    for key, est, norm in (
        (name, name, torch.nn.LayerNorm),
        ("ref", BASELINE, _LayerNormByDefinition),
    ):
        f, params = _layered_network(dim, norm)
        value = estimators.get(est, samples=samples).laplacian(f, x, generator=generator(1))
        grads[key] = (value, torch.autograd.grad((value**2).mean(), params))
    np.testing.assert_allclose(grads[name][0].detach(), grads["ref"][0].detach(), rtol=1e-10)
    for g, e in zip(grads[name][1], grads["ref"][1], strict=True):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-9, atol=1e-12)


def _second_derivative_along_a_line(f, nested_forward: bool):
    """d^2/dt^2 f(t) at t = 0.3 by jvp of jvp, or by a double backward."""
    t = torch.tensor(0.3, dtype=torch.float64)
    one = torch.ones_like(t)
    if nested_forward:
        return torch.func.jvp(lambda s: torch.func.jvp(f, (s,), (one,))[1], (t,), (one,))[1]
    t.requires_grad_(True)
    (g,) = torch.autograd.grad(f(t), t, create_graph=True)
    return torch.autograd.grad(g, t)[0]


def test_the_refused_ops_are_wrong_in_torchs_nested_forward_mode():
    """Why the guard in estimators/_torch_func.py exists (pytorch#198017): for every family
    it replaces or refuses, torch's nested forward mode disagrees with reverse mode along a
    line.  When this test fails for an op, torch has fixed it and the guard can drop it."""
    a = torch.tensor([[2.0, 0.3, 0.1], [0.2, 1.5, 0.4], [0.1, 0.2, 1.8]], dtype=torch.float64)
    b = torch.tensor([[0.1, 0.5, -0.3], [0.4, -0.2, 0.1], [0.0, 0.3, 0.2]], dtype=torch.float64)
    spd = lambda t: (a + t * b) @ (a + t * b).T
    row = lambda t: torch.stack([t, t * t, torch.sin(t) + 1, torch.ones_like(t)])
    norm = torch.nn.functional
    ops = {
        "layer_norm": lambda t: (norm.layer_norm(row(t), (4,)) ** 3).sum(),
        "batch_norm": lambda t: (
            norm.batch_norm(row(t)[:, None], None, None, training=True) ** 3
        ).sum(),
        "instance_norm": lambda t: (norm.instance_norm(row(t)[None, None]) ** 3).sum(),
        "det": lambda t: torch.linalg.det(a + t * b + t * t * b.T),
        "slogdet": lambda t: torch.linalg.slogdet(a + t * b + t * t * b.T)[1],
        "logdet": lambda t: torch.logdet(spd(t)),
        "solve": lambda t: torch.linalg.solve(a + t * b, a.T * (1 + t * t)).sum(),
        "cholesky_inverse": lambda t: torch.cholesky_inverse(torch.linalg.cholesky(spd(t))).sum(),
        "householder_product": lambda t: torch.linalg.householder_product(
            a + t * b, torch.stack([0.5 + t, 0.3 + t])
        ).sum(),
    }
    for name, f in ops.items():
        forward = _second_derivative_along_a_line(f, nested_forward=True)
        reverse = _second_derivative_along_a_line(f, nested_forward=False)
        assert abs(forward - reverse) > 1e-3 * abs(reverse), name


# --- the same index set as the loop baseline ---------------------------------------------


@pytest.mark.parametrize("fn", ["mlp", "two-body"])
@pytest.mark.parametrize("name", [n for n in INDEX_SET if n != BASELINE])
def test_same_generator_seed_gives_the_baselines_estimate(name, fn):
    dim, samples = 17, 5
    f, x, _ = _torch_setup(fn, dim)
    f_jax, xs, _ = _setup(fn, dim)
    diagonal = np.asarray(jax.jit(jax.vmap(lambda y: jnp.diag(nested_hessian(f_jax, y))))(xs))
    values = []
    for seed in range(3):
        got = estimators.get(name, samples=samples).laplacian(f, x, generator=generator(seed))
        base = estimators.get(BASELINE, samples=samples).laplacian(f, x, generator=generator(seed))
        np.testing.assert_allclose(got.detach().numpy(), base.detach().numpy(), atol=1e-10)
        index = torch.randperm(dim, generator=generator(seed))[:samples].numpy()
        expected = dim / samples * diagonal[:, index].sum(axis=1)  # d/|J| sum_{j in J} H_jj
        np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-10, atol=1e-10)
        values.append(got.detach().numpy())
    assert not np.allclose(values[0], values[1])  # other seeds, other index sets


def _mlp_leaves(dim: int):
    params = [
        (torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
        for w, b in F.mlp_params(dim)
    ]
    return params, [t for pair in params for t in pair]


def _loss_gradients(name: str, dim: int, samples: int, seed: int):
    """Gradients of mean (estimate)^2 w.r.t. every MLP weight and bias (None -> zeros)."""
    params, leaves = _mlp_leaves(dim)
    x = torch.tensor(F.points(dim, 5))
    estimate = estimators.get(name, samples=samples).laplacian(
        lambda y: F.mlp_apply(params, y, torch), x, generator=generator(seed)
    )
    grads = torch.autograd.grad((estimate**2).mean(), leaves, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, leaves, strict=True)]


@pytest.mark.parametrize("samples", [3, 8])
@pytest.mark.parametrize("name", [n for n in INDEX_SET if n != BASELINE])
def test_parameter_gradients_match_the_loop_baseline(name, samples):
    dim = 8  # samples = 3: a sampled J shared with the baseline; 8: every dimension
    got = _loss_gradients(name, dim, samples, seed=4)
    expected = _loss_gradients(BASELINE, dim, samples, seed=4)
    assert sum(int(g.abs().max() > 0) for g in expected) >= len(expected) - 1
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-9, atol=1e-12)


# --- Hutchinson: the draw, and its gradients ----------------------------------------------


def rademacher(seed: int, samples: int, dim: int):
    """The directions hte-torch draws from ``generator(seed)``: (samples, dim) of +-1."""
    bits = torch.randint(0, 2, (samples, dim), generator=generator(seed))
    return (2 * bits - 1).double()


def quadratic_forms_by_autograd(f, x, v):
    """v^T H(x_n) v for every row n and every direction v, by a double backward: (K, N)."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    out = []
    for direction in v:
        (hv,) = torch.autograd.grad((g * direction).sum(), x, create_graph=True)
        out.append((hv * direction).sum(-1))
    return torch.stack(out)


@pytest.mark.parametrize("name", HUTCHINSON)
def test_hutchinson_is_the_mean_quadratic_form_of_its_draw(name):
    dim, samples, seed = 8, 4, 2
    params, leaves = _mlp_leaves(dim)
    f = lambda y: F.mlp_apply(params, y, torch)
    x = torch.tensor(F.points(dim, 5))
    got = estimators.get(name, samples=samples).laplacian(f, x, generator=generator(seed))
    expected = quadratic_forms_by_autograd(f, x, rademacher(seed, samples, dim)).mean(0)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-10)
    grads = torch.autograd.grad((got**2).mean(), leaves, allow_unused=True)
    reference = torch.autograd.grad((expected**2).mean(), leaves, allow_unused=True)
    for g, e in zip(grads, reference, strict=True):
        assert (g is None) == (e is None)
        if g is not None:
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="Generator"):
        estimators.get(name, samples=samples).laplacian(f, x)


# --- unbiased, and the variance laws ----------------------------------------------------


@pytest.mark.parametrize("name", INDEX_SET + HUTCHINSON)
def test_stochastic_estimators_are_unbiased(name):
    n = 400
    f, x, exact = _torch_setup("mlp", 8)
    values = draws(name, 3, f, x[:1], n, seed=7)[:, 0]
    stderr = values.std(ddof=1) / np.sqrt(n)
    assert values.std() > 0, f"{name} gave the same value for {n} draws"
    assert abs(values.mean() - exact[0]) < 4 * stderr, (values.mean(), exact[0], stderr)


@functools.cache
def _bump(dim: int):
    f_jax, x, h = _hessian_at_first_point("gaussian-bump", dim)
    return F.make("gaussian-bump", dim, backend="torch"), torch.tensor(np.asarray(x))[None], h


def variance_tolerance(values: np.ndarray) -> float:
    """4 standard errors of the relative sample variance s^2 / sigma^2 of these draws:
    Var(s^2) / sigma^4 = (kurtosis - (n - 3) / (n - 1)) / n, kurtosis = m4 / m2^2."""
    n, centered = values.size, values - values.mean()
    kurtosis = (centered**4).mean() / (centered**2).mean() ** 2
    return 4 * np.sqrt((kurtosis - (n - 3) / (n - 1)) / n)


def _variances(name: str, f, x, n: int, sample_sizes) -> dict[int, tuple[float, float]]:
    """|J| -> (sample variance of n draws, its 4-standard-error relative tolerance)."""
    out = {}
    for s in sample_sizes:
        values = draws(name, s, f, x, n, seed=s)[:, 0]
        out[s] = (values.var(ddof=1), variance_tolerance(values))
    return out


@pytest.mark.parametrize("name", INDEX_SET)
@pytest.mark.slow  # statistical: many estimates
def test_index_set_variance_has_finite_population_correction(name):
    dim, n, small, large = 17, 700, 2, 8
    f, x, h = _bump(dim)
    expected = {s: sdgd_variance(np.diag(h), s) for s in (small, large)}
    measured = _variances(name, f, x, n, (small, large))
    for s, (variance, tolerance) in measured.items():
        assert abs(variance / expected[s] - 1) < tolerance, (s, variance, expected[s], tolerance)
    ratio = expected[small] / expected[large]  # 4 (d - 2) / (d - 8); with replacement: 4
    ratio_tolerance = np.hypot(measured[small][1], measured[large][1])
    assert abs(measured[small][0] / measured[large][0] / ratio - 1) < ratio_tolerance
    assert abs(4 / ratio - 1) > ratio_tolerance  # the ratio tells the two laws apart


@pytest.mark.parametrize("name", HUTCHINSON)
@pytest.mark.slow  # statistical: many estimates
def test_hutchinson_variance_falls_like_one_over_samples(name):
    dim, n, small, large = 8, 700, 2, 8
    f, x, h = _bump(dim)
    one_draw = 2 * ((h - np.diag(np.diag(h))) ** 2).sum()  # Var v^T H v, Rademacher v
    measured = _variances(name, f, x, n, (small, large))
    for s, (variance, tolerance) in measured.items():
        assert abs(variance / (one_draw / s) - 1) < tolerance, (s, variance, tolerance)
    ratio_tolerance = np.hypot(measured[small][1], measured[large][1])
    ratio = measured[small][0] / measured[large][0]
    assert abs(ratio / (large / small) - 1) < ratio_tolerance
    assert abs(1 / (large / small) - 1) > ratio_tolerance  # a constant variance would fail


# --- errors -----------------------------------------------------------------------------


class _SquareWithoutJvp(torch.autograd.Function):
    """x^2 with a backward rule only (no jvp): usable in reverse mode, not forward mode."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


@pytest.mark.parametrize("name", FORWARD_MODE)
def test_an_op_without_a_forward_mode_rule_is_named(name):
    dim = 4
    x = torch.tensor(F.points(dim, 3))
    # the regularized incomplete gamma function: reverse-mode rules, no forward-mode rule
    with_gammainc = lambda y: torch.special.gammainc(torch.full_like(y, 2.0), y * y + 0.5).sum(-1)
    with pytest.raises(ValueError) as err:
        estimators.get(name, samples=2).laplacian(with_gammainc, x, generator=generator(0))
    message = str(err.value)
    assert "igamma" in message and BASELINE in message and name in message
    custom = lambda y: _SquareWithoutJvp.apply(y).sum(-1)
    with pytest.raises(ValueError, match=f"autograd.Function without a jvp rule.*{BASELINE}"):
        estimators.get(name, samples=2).laplacian(custom, x, generator=generator(0))
    det = lambda y: torch.linalg.det(y[:, :, None] * y[:, None, :] + torch.eye(dim))
    with pytest.raises(
        ValueError, match=f"torch.linalg.det, which gives silently wrong.*{BASELINE}"
    ):
        estimators.get(name, samples=2).laplacian(det, x, generator=generator(0))
    batch_statistics = lambda y: torch.nn.functional.batch_norm(y, None, None, training=True).sum(
        -1
    )
    with pytest.raises(ValueError, match="batch_norm with batch statistics"):
        estimators.get(name, samples=2).laplacian(batch_statistics, x, generator=generator(0))
    # ...while the reverse-mode baseline runs them: the alternative the message names.
    for f in (with_gammainc, custom, det):
        assert torch.isfinite(estimators.get(BASELINE, samples=dim).laplacian(f, x)).all()


class _SquareWithoutVmap(_SquareWithoutJvp):
    generate_vmap_rule = False


@pytest.mark.parametrize("name", FORWARD_MODE)  # (sdgd-parallel-torch vmaps its backward only)
def test_a_function_without_a_vmap_rule_is_named(name):
    x = torch.tensor(F.points(4, 3))
    with pytest.raises(ValueError, match=f"_SquareWithoutVmap.*{BASELINE}"):
        estimators.get(name, samples=2).laplacian(
            lambda y: _SquareWithoutVmap.apply(y).sum(-1), x, generator=generator(0)
        )


@pytest.mark.parametrize("name", FORWARD_MODE)
def test_other_errors_are_not_renamed(name):
    def broken(y):
        raise RuntimeError("an unrelated failure inside f")

    with pytest.raises(RuntimeError, match="unrelated failure"):
        estimators.get(name, samples=2).laplacian(
            broken, torch.zeros((2, 3), dtype=torch.float64), generator=generator(0)
        )


@pytest.mark.parametrize("name", TORCH_LAPLACIAN)
def test_user_errors(name):
    f = F.make("mlp", 3, backend="torch")
    est = estimators.get(name, samples=2)
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        est.laplacian(f, torch.zeros(3, dtype=torch.float64), generator=generator(0))
    with pytest.raises(ValueError, match="Generator"):
        est.laplacian(f, torch.zeros((2, 3), dtype=torch.float64))
    with pytest.raises(ValueError, match="JAX"):  # a JAX function given torch points
        est.laplacian(F.make("mlp", 3), torch.zeros((2, 3), dtype=torch.float64), generator(0))
    with pytest.raises(ValueError, match="sdgd-backward-jax"):  # JAX points
        est.laplacian(f, jnp.zeros((2, 3)), generator(0))
