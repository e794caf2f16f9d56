"""The PyTorch training step: the same for every PyTorch estimator but the estimate;
coordinate restriction (f_J) equal to the unrestricted sampled estimate for the same J;
the step under torch.compile equal to the eager one."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import estimators
import problems
from stde_bench.config import TrainConfig

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

torch = pytest.importorskip("torch")

from stde_bench import mlp_torch  # noqa: E402
from stde_bench.train_torch import TorchTrainer  # noqa: E402

TINY = TrainConfig(steps=6, eval_every=3, n_test=64, samples=4, n_residual=8, width=16)
INDEX_SET = ["sdgd-backward-torch", "sdgd-parallel-torch", "stde-torch"]


def trainer(name: str, dim: int, config: TrainConfig, problem: str = "allen-cahn-two-body"):
    p = problems.get(problem, dim, seed=config.seed, backend="torch")
    return TorchTrainer(p, estimators.get(name, samples=config.samples), config)


def losses(name: str, dim: int, config: TrainConfig, steps: int = 3) -> np.ndarray:
    t = trainer(name, dim, config)
    t.compile()
    return np.array([float(t.sync(t.step())) for _ in range(steps)])


def test_step_is_identical_across_index_set_estimators():
    """|J| = d: every index-set estimator is exact, so equal seeds give equal trajectories."""
    config = TINY.replace(samples=5)
    reference = losses(INDEX_SET[0], 5, config)
    assert np.all(np.isfinite(reference)) and reference[0] > 0
    for name in INDEX_SET[1:]:
        np.testing.assert_allclose(losses(name, 5, config), reference, rtol=1e-5, err_msg=name)


# --- coordinate restriction --------------------------------------------------------------


@pytest.mark.parametrize("block", [None, 3])
def test_restricted_network_is_the_network_with_coordinates_replaced(block):
    dim, n = 12, 5
    config = TINY.replace(block=block)
    model = mlp_torch.build(dim, config.mlp, seed=1, dtype=torch.float64)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.uniform(-1, 1, (n, dim)))
    index = torch.tensor([9, 4, 2, 11, 5, 10])  # 9, 10, 11 share a block when B = 3
    y = torch.tensor(rng.uniform(-1, 1, (n, len(index))))
    replaced = x.clone()
    replaced[:, index] = y
    got = mlp_torch.restrict(model, x, index)(y)
    np.testing.assert_allclose(got.detach(), model(replaced).detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "problem,dim,block",
    [
        ("allen-cahn-two-body", 12, None),
        ("allen-cahn-two-body", 12, 3),
        ("heat-semilinear", 10, None),
    ],
)
@pytest.mark.parametrize("name", INDEX_SET)
def test_restricted_estimate_equals_the_sampled_one_for_the_same_index_set(
    name, problem, dim, block
):
    """float64: (d/|J|) Delta f_J(z_J) = the estimator's sampled estimate of u for the same
    J (the same generator state), values and parameter gradients; with time (heat) too."""
    seed = 5
    results = {}
    for restrict in (False, True):
        config = TINY.replace(samples=5, block=block, restrict=restrict)
        t = trainer(name, dim, config, problem)
        t.model.double()
        points = t.problem.sample_domain(torch.Generator().manual_seed(3), 7).double()
        t.generator.manual_seed(seed)
        if restrict:
            estimate = t.restricted_estimate(points)
        else:
            estimate = functools.partial(t.estimator.laplacian, generator=t.generator)
        value = t.problem.residual(t.u, points, estimate)
        grads = torch.autograd.grad((value**2).mean(), list(t.model.parameters()))
        results[restrict] = (value.detach(), grads)
    np.testing.assert_allclose(results[True][0], results[False][0], rtol=1e-10, atol=1e-10)
    for got, expected in zip(results[True][1], results[False][1], strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)


def test_restricted_function_forms_no_d_sized_array_per_direction():
    """Every tensor the estimator makes on f_J is smaller than one (N, d) array per
    sampled direction; the unrestricted estimate makes such arrays (the test can fail)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Largest(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.numel = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for o in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(o, torch.Tensor):
                    self.numel = max(self.numel, o.numel())
            return out

    dim, n, samples = 400, 6, 4
    config = TINY.replace(samples=samples, restrict=True, n_residual=n)
    t = trainer("stde-torch", dim, config)
    points = t.problem.sample_domain(torch.Generator().manual_seed(0), n)
    estimate = t.restricted_estimate(points)
    with Largest() as restricted:
        estimate(t.u, points)
    with Largest() as unrestricted:
        t.estimator.laplacian(t.u, points, generator=t.generator)
    per_direction = samples * n * dim
    assert restricted.numel < per_direction <= unrestricted.numel


def test_restriction_refuses_hutchinson():
    with pytest.raises(ValueError, match="hte-torch.*restrict"):
        trainer("hte-torch", 6, TINY.replace(restrict=True))


# --- torch.compile ----------------------------------------------------------------------


@pytest.mark.slow
def test_compiled_step_equals_the_eager_one():
    dim, config = 4, TINY.replace(samples=2)
    eager = losses("stde-torch", dim, config)
    compiled_trainer = trainer("stde-torch", dim, config.replace(torch_compile=True))
    assert compiled_trainer.compile() > 0
    compiled = [float(compiled_trainer.step()) for _ in range(3)]
    np.testing.assert_allclose(compiled, eager, rtol=1e-4)  # float32, other kernels


@pytest.mark.slow
def test_compiling_the_loop_baseline_is_a_clear_skip():
    """torch.compile cannot differentiate autograd.grad twice: the cell is impossible
    (NotImplementedError, recorded as skipped), and the message says what to do."""
    t = trainer("sdgd-backward-torch", 4, TINY.replace(torch_compile=True))
    with pytest.raises(NotImplementedError, match="double backward.*without --torch-compile"):
        t.compile()
