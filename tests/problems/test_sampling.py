"""Domain samplers: shapes, inside the domain, the radius law, reproducibility."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import problems
from tests.problems.helpers import valid_dims

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)

NAMES = problems.names()


def _representatives() -> list[str]:
    """One problem per (class, samplers): the samplers are shared within a class."""
    seen, names = set(), []
    for name in NAMES:
        problem = problems.get(name, valid_dims(name, 1)[0])
        key = (type(problem).sample_domain, problem.samplers)
        if key not in seen:
            seen.add(key)
            names.append(name)
    return names


REPRESENTATIVES = _representatives()


def _problem(name, backend="jax"):
    return problems.get(name, valid_dims(name, limit=2)[-1], backend=backend)


def _check_inside(problem, z):
    z = np.asarray(z)
    assert z.shape[1] == problem.input_dim
    if "uniform" in problem.samplers[0] and problem.samplers[0] != "uniform":  # the ball
        assert (np.linalg.norm(z, axis=1) <= 1.0 + 1e-12).all()
    elif problem.samplers == ("uniform",):  # box [-1, 1]^dim x [0, 1]
        assert (np.abs(z[:, :-1]) <= 1.0).all()
        assert ((z[:, -1] >= 0.0) & (z[:, -1] <= problem.t_max)).all()
    else:  # semilinear: t in [0, T]
        assert ((z[:, -1] >= 0.0) & (z[:, -1] <= problem.T)).all()


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_jax_samplers_shape_domain_and_reproducibility(name):
    problem = _problem(name)
    for sampler in problem.samplers:
        z = problem.sample_domain(jax.random.key(0), 257, sampler=sampler)
        assert z.shape == (257, problem.input_dim)
        _check_inside(problem, z)
        again = problem.sample_domain(jax.random.key(0), 257, sampler=sampler)
        np.testing.assert_array_equal(z, again)
        other = problem.sample_domain(jax.random.key(1), 257, sampler=sampler)
        assert not np.allclose(z, other)
    jitted = jax.jit(lambda k: problem.sample_domain(k, 5))(jax.random.key(2))
    assert jitted.shape == (5, problem.input_dim)
    with pytest.raises(ValueError, match="valid samplers"):
        problem.sample_domain(jax.random.key(0), 3, sampler="sobol")


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_torch_samplers_shape_domain_and_reproducibility(name):
    torch = pytest.importorskip("torch")
    problem = _problem(name, backend="torch")
    for sampler in problem.samplers:
        z = problem.sample_domain(torch.Generator().manual_seed(0), 129, sampler=sampler)
        assert tuple(z.shape) == (129, problem.input_dim)
        _check_inside(problem, z.numpy())
        again = problem.sample_domain(torch.Generator().manual_seed(0), 129, sampler=sampler)
        assert torch.equal(z, again)
    assert tuple(problem.sample_domain(None, 3).shape) == (3, problem.input_dim)


@pytest.mark.parametrize("dim", [2, 5])
def test_ball_radius_law_differs_between_samplers(dim):
    """E r = 1/2 for radius-uniform, d / (d + 1) for volume-uniform."""
    problem = problems.get("poisson-two-body", dim)
    n = 20_000
    key = jax.random.key(4)
    r_radius = jnp.linalg.norm(problem.sample_domain(key, n, sampler="radius-uniform"), axis=1)
    r_volume = jnp.linalg.norm(problem.sample_domain(key, n, sampler="volume-uniform"), axis=1)
    tol = 4 * 0.3 / np.sqrt(n)  # 4 standard errors (std of r is at most 0.29)
    assert abs(float(r_radius.mean()) - 0.5) < tol
    assert abs(float(r_volume.mean()) - dim / (dim + 1)) < tol
    # volume-uniform: P(r < 1/2) = 2^-d; radius-uniform: 1/2
    assert abs(float((r_volume < 0.5).mean()) - 0.5**dim) < 0.02
    assert abs(float((r_radius < 0.5).mean()) - 0.5) < 0.02


def test_semilinear_sampler_follows_the_heat_kernel():
    """t ~ U[0, T], x ~ N(0, 2 (T - t) I): |x|^2 / (2 d (T - t)) has mean 1."""
    problem = problems.get("heat-semilinear", 10)
    z = np.asarray(problem.sample_domain(jax.random.key(0), 8_000))
    t = z[:, -1]
    assert abs(t.mean() - problem.T / 2) < 0.01
    keep = t < problem.T - 0.01
    ratio = (z[keep, :-1] ** 2).sum(1) / (2 * problem.dim * (problem.T - t[keep]))
    assert abs(ratio.mean() - 1.0) < 0.03
    initial = np.asarray(problem.sample_initial(jax.random.key(0), 4000))
    assert (initial[:, -1] == 0).all()
    assert abs((initial[:, :-1] ** 2).mean() - 2 * problem.T) < 0.03


@pytest.mark.parametrize("name", ["kdv-2d", "gkdv-1d"])
def test_high_order_boundary_points(name):
    problem = problems.get(name, valid_dims(name, 1)[0])
    z = np.asarray(problem.sample_boundary(jax.random.key(0), 100))
    assert z.shape == (100, problem.input_dim)
    assert (z[:50, -1] == 0).all()  # initial slice
    on_face = (np.abs(z[50:, :-1]) == 1.0).sum(1)
    assert (on_face == 1).all()  # lateral faces, one coordinate at ±1
    assert (z[50:, -1] >= 0).all() and (z[50:, -1] <= 1).all()


@pytest.mark.parametrize("name", [n for n in REPRESENTATIVES if not n.endswith("semilinear")])
def test_test_set_is_fixed_and_inside(name):
    problem = _problem(name)
    z, values = problem.test_set(100)
    assert z.shape == (100, problem.input_dim) and values.shape == (100,)
    _check_inside(problem, z)
    z2, _ = problems.get(name, problem.dim).test_set(100)
    np.testing.assert_array_equal(z, z2)
    assert type(problem).test_size == 20_000


def test_default_test_set_size_is_20000():
    z, values = problems.get("poisson-two-body", 2).test_set()
    assert z.shape == (20_000, 2) and values.shape == (20_000,)


def _rows_and_whole(seed: int, n: int, d: int):
    """The row-by-row normals and JAX's whole draw from the same source state."""
    from problems.sampling import RandomSource

    key = jax.random.fold_in(jax.random.key(seed), 7)
    rows = jax.jit(lambda k: RandomSource("jax", k).normal_rows(n, d).map(lambda z: z))(key)
    whole = jax.jit(lambda k: RandomSource("jax", k).normal((n, d)))(key)
    return rows, whole


@pytest.mark.parametrize("n, d", [(1, 1), (3, 5), (7, 1000), (64, 4099)])
@pytest.mark.parametrize("seed", [0, 12345])
def test_jax_normal_rows_are_jax_random_normal_bit_for_bit(n, d, seed):
    """float32 (the training dtype): the rows drawn one at a time from threefry's
    counters equal ``jax.random.normal`` drawn whole."""
    with jax.enable_x64(False):
        rows, whole = _rows_and_whole(seed, n, d)
    assert rows.dtype == whole.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(rows), np.asarray(whole))


def test_jax_normal_rows_in_float64_are_rows_of_jax_random_normal():
    rows, whole = _rows_and_whole(3, 4, 9)
    assert rows.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(rows), np.asarray(whole))


NORMAL_DRAWING = [n for n in REPRESENTATIVES if _problem(n).samplers != ("uniform",)]


@pytest.mark.parametrize("name", NORMAL_DRAWING)
def test_jax_sampler_holds_no_whole_array_besides_its_points(name, monkeypatch):
    """XLA's temporaries of a JAX sampler drawing 2 rows per trip: the (n, d) points and a
    few chunks, where JAX's whole draw alone holds four (n, d) arrays (two counter words,
    two hash words)."""
    from problems.sampling import NormalRows

    n, d, rows = 16, 10_000, 2  # a dimension every normal-drawing family accepts
    monkeypatch.setattr(NormalRows, "CHUNK_ELEMENTS", {"cpu": rows * d})
    problem = problems.get(name, d)
    with jax.enable_x64(False):
        key = jax.random.key(0)
        ours = jax.jit(lambda k: problem.sample_domain(k, n).sum()).lower(key).compile()
        whole = jax.jit(lambda k: jax.random.normal(k, (n, d)).sum()).lower(key).compile()
    points = n * problem.input_dim * 4
    assert NormalRows(n, d).rows_per_chunk() == rows
    assert whole.memory_analysis().temp_size_in_bytes >= 2 * points
    assert ours.memory_analysis().temp_size_in_bytes <= points + 8 * rows * problem.input_dim * 4


@pytest.mark.parametrize(
    "n, d, rows", [(100, 10**6, 1), (100, 10**5, 10), (100, 10**4, 100), (7, 1, 7)]
)
def test_rows_per_chunk_on_cpu(n, d, rows):
    from problems.sampling import NormalRows

    assert NormalRows(n, d).rows_per_chunk() == rows


@pytest.mark.parametrize("rows", [1, 3, 7])
def test_jax_normal_rows_by_chunks_are_jax_random_normal(rows, monkeypatch):
    """Chunks that do not divide n (a remainder trip) draw the same rows."""
    from problems.sampling import NormalRows

    monkeypatch.setattr(NormalRows, "CHUNK_ELEMENTS", {"cpu": rows * 33})
    with jax.enable_x64(False):
        ours, whole = _rows_and_whole(1, 10, 33)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(whole))
