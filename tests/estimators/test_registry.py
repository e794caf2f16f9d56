"""The estimator registry and the errors a user meets: each says what happened and what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import estimators
from problems import OPERATORS
from tests.estimators import functions as F

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
JAX_LAPLACIAN = [
    n
    for n in estimators.names()
    if estimators.REGISTRY.factory(n).backend == "jax"
    and "laplacian" in estimators.REGISTRY.factory(n).operators
]
# Modules that use estimators._checks (the shape / backend checks).
CHECKED = [
    n
    for n in JAX_LAPLACIAN
    if estimators.REGISTRY.factory(n).__module__
    in {
        "estimators.exact_jax",
        "estimators.forward_laplacian_jax",
        "estimators.hte_jax",
        "estimators.sdgd_backward_jax",
        "estimators.sdgd_fwd_over_bwd_jax",
        "estimators.sdgd_parallel_jax",
    }
]


def test_every_estimator_declares_itself():
    assert estimators.names(), "no estimator registered"
    for name in estimators.names():
        cls = estimators.REGISTRY.factory(name)
        est = estimators.get(name)
        assert est.name == name
        assert cls.backend in ("jax", "torch")
        assert cls.operators and set(cls.operators) <= set(OPERATORS), name
        assert isinstance(cls.stochastic, bool)
        assert cls.__doc__ and sys.modules[cls.__module__].__doc__, f"{name}: document it"


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        estimators.get("sdgd-backward-jaxx")
    message = str(err.value)
    assert "sdgd-backward-jaxx" in message
    for name in estimators.names():
        assert name in message


@pytest.mark.parametrize("samples", [0, -3, 1.5, True, "16"])
@pytest.mark.parametrize("name", estimators.names())
def test_bad_samples_is_refused(name, samples):
    with pytest.raises(ValueError, match="samples"):
        estimators.get(name, samples=samples)


def test_unknown_option_is_a_value_error():
    with pytest.raises(ValueError, match="bad options"):
        estimators.get("exact-jax", sample=4)


@pytest.mark.parametrize("name", estimators.names())
def test_unsupported_quantity_names_those_that_can(name):
    est = estimators.get(name)
    for operator in OPERATORS:
        if est.supports(operator):
            continue
        able = estimators.supporting(operator)
        with pytest.raises(ValueError) as err:
            est.quantity(operator)
        for other in able:
            assert other in str(err.value)
        assert name in str(err.value)


def test_sdgd_parallel_has_no_biharmonic():
    est = estimators.get("sdgd-parallel-jax")
    f = F.make("mlp", 3)
    with pytest.raises(ValueError, match="hte-jax"):
        est.biharmonic(f, jnp.zeros(3), jax.random.key(0))
    assert "hte-jax" in estimators.supporting("biharmonic")
    assert "exact-jax" in estimators.supporting("biharmonic")


@pytest.mark.parametrize("name", [n for n in estimators.names() if estimators.get(n).floor])
def test_the_floor_supplies_zeros(name):
    """The floor is no estimator (excluded from the correctness tests): zeros of the right
    shapes, the gPINN index sampled as the gPINN estimators sample theirs."""
    from estimators.gpinn_pairs import gradient_pairs

    est, f, x, key = (
        estimators.get(name, samples=2),
        F.make("mlp", 5),
        jnp.ones(5),
        jax.random.key(1),
    )
    assert est.laplacian(f, x, key).shape == () and float(est.laplacian(f, x, key)) == 0.0
    q = est.laplacian_gradient(f, x, key)
    np.testing.assert_array_equal(q.index, gradient_pairs(key, 5, 2)[1])
    assert float(q.laplacian) == 0.0 and q.grad.shape == q.grad_laplacian.shape == (2,)
    assert not np.any(q.grad) and not np.any(q.grad_laplacian)


def test_import_does_not_import_torch():
    code = "import estimators, sys; assert 'torch' not in sys.modules, 'torch was imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


# --- the backend checks -------------------------------------------------------------


def test_torch_estimator_refuses_a_jax_array():
    pytest.importorskip("torch")
    est = estimators.get("sdgd-backward-torch")
    with pytest.raises(ValueError) as err:
        est.laplacian(F.make("mlp", 3), jnp.zeros((2, 3)))
    message = str(err.value)
    assert "PyTorch" in message and "sdgd-backward-jax" in message


def test_torch_estimator_refuses_a_jax_function():
    torch = pytest.importorskip("torch")
    est = estimators.get("sdgd-backward-torch")
    x = torch.zeros((2, 3), dtype=torch.float64)
    with pytest.raises(ValueError, match="JAX"):
        est.laplacian(F.make("mlp", 3), x)  # JAX weights: fails on a torch tensor
    with pytest.raises(ValueError, match="JAX"):
        est.laplacian(lambda x: jnp.sum(jnp.asarray(x.detach().numpy()), axis=1), x)


def test_torch_estimator_refuses_a_wrong_shape_and_a_missing_generator():
    torch = pytest.importorskip("torch")
    f = F.make("mlp", 3, backend="torch")
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        estimators.get("sdgd-backward-torch").laplacian(f, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="Generator"):
        estimators.get("sdgd-backward-torch", samples=2).laplacian(
            f, torch.zeros((2, 3), dtype=torch.float64)
        )


@pytest.mark.parametrize("name", CHECKED)
def test_jax_estimators_refuse_a_torch_tensor(name):
    torch = pytest.importorskip("torch")
    est = estimators.get(name, samples=2)
    with pytest.raises(ValueError) as err:
        est.laplacian(F.make("mlp", 3), torch.zeros(3, dtype=torch.float64), jax.random.key(0))
    assert "sdgd-backward-torch" in str(err.value)


@pytest.mark.parametrize("name", CHECKED)
def test_jax_estimators_refuse_a_batch(name):
    est = estimators.get(name, samples=2)
    with pytest.raises(ValueError, match="vmap"):
        est.laplacian(F.make("mlp", 3), jnp.zeros((4, 3)), jax.random.key(0))


@pytest.mark.parametrize("name", [n for n in JAX_LAPLACIAN if estimators.get(n).stochastic])
def test_sampling_without_a_key_is_refused(name):
    est = estimators.get(name, samples=2)
    with pytest.raises(ValueError, match="key"):
        est.laplacian(F.make("mlp", 3), jnp.asarray(np.zeros(3)), None)
