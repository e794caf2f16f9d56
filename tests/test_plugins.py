"""Third-party estimators and problems: entry points, ``module:attribute``, contract errors.

The example package ``examples/custom_estimator`` is pip-installed (``--no-deps
--target``) into a temporary folder put on ``sys.path``, so its entry point is read from
real installed metadata.  Each test works on copies of the registries (monkeypatched),
so nothing registered here leaks into other tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

import estimators
import problems
from stde_bench import cli
from stde_bench.cell import run_cell
from stde_bench.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom_estimator"
EXAMPLE_ID = "fd-laplacian-example"  # its entry point's name (examples/.../pyproject.toml)
EXAMPLE_ATTR = "fd_laplacian_example:FiniteDifferenceLaplacian"
TINY = TrainConfig(steps=4, eval_every=2, n_test=50, samples=4, n_residual=8, width=16)


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """The example package installed by pip into a fresh folder (no dependencies), built
    from a copy so that the build leaves nothing in the repository."""
    source, target = tmp_path_factory.mktemp("src") / "example", tmp_path_factory.mktemp("site")
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
        + ["--no-build-isolation", "--target", str(target), str(source)],
        check=True,
    )
    return target


@pytest.fixture
def fresh_registries(monkeypatch):
    """Copies of both registries, entry points read again from the current sys.path."""
    for registry in (estimators.REGISTRY, problems.REGISTRY):
        monkeypatch.setattr(registry, "_factories", dict(registry._factories))
        monkeypatch.setattr(registry, "_entry_points", None)


@pytest.fixture
def installed(example_site, monkeypatch, fresh_registries) -> Path:
    monkeypatch.syspath_prepend(str(example_site))
    return example_site


def write_distribution(site: Path, name: str, entry_points: str) -> None:
    """A minimal installed distribution (dist-info) whose only content is entry points."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def write_module(site: Path, name: str, source: str) -> str:
    (site / f"{name}.py").write_text(textwrap.dedent(source))
    return name


# --- the example estimator ---------------------------------------------------------------


def test_example_is_registered_through_its_entry_point(installed):
    assert EXAMPLE_ID in estimators.names()
    assert EXAMPLE_ID in estimators.REGISTRY
    est = estimators.get(EXAMPLE_ID)
    assert est.name == EXAMPLE_ID and est.backend == "jax" and not est.stochastic
    assert EXAMPLE_ID in estimators.supporting("laplacian")


def test_example_laplacian_has_second_order_truncation_error(installed):
    """f = sum sin(x_i): each central difference is sin(x_i) 2(cos h - 1)/h^2, so the error
    is ~ (h^2/12) sum sin(x_i); halving h divides it by 2^2 (the claimed O(h^2))."""
    f = lambda x: jnp.sum(jnp.sin(x))
    x = jnp.linspace(0.3, 1.2, 4)
    exact = jnp.trace(jax.hessian(f)(x))
    errors = []
    for h in (2e-2, 1e-2):
        estimate = estimators.get(EXAMPLE_ID, step=h).laplacian(f, x, None)
        errors.append(float(estimate - exact))
        leading = h**2 / 12 * float(jnp.sum(jnp.sin(x)))
        assert errors[-1] == pytest.approx(leading, rel=h**2)  # next term is O(h^4)
    assert errors[0] / errors[1] == pytest.approx(2**2, rel=1e-2)
    # the default step (eps^(1/4)) balances truncation and rounding
    default = estimators.get(EXAMPLE_ID).laplacian(f, x, None)
    h = jnp.finfo(x.dtype).eps ** 0.25
    bound = x.size * (h**2 / 12 + 4 * jnp.finfo(x.dtype).eps * x.size / h**2)
    assert abs(float(default - exact)) <= bound


@pytest.mark.parametrize("estimator", [EXAMPLE_ID, EXAMPLE_ATTR])
def test_one_cell_runs_with_the_plugin(installed, estimator):
    record = run_cell("allen-cahn-two-body", estimator, 4, TINY, progress=False)
    assert record.status == "ok", record.reason
    assert record.estimator == estimator
    assert record.it_per_s > 0 and record.error_final is not None


def test_one_class_under_two_ids_keeps_both_names(installed):
    by_entry_point = estimators.get(EXAMPLE_ID)
    by_attribute = estimators.get(EXAMPLE_ATTR)
    assert (by_entry_point.name, by_attribute.name) == (EXAMPLE_ID, EXAMPLE_ATTR)
    assert estimators.names()[-2:] == [EXAMPLE_ID, EXAMPLE_ATTR]


def test_list_shows_plugins_like_builtins(installed, capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.split()[:1] == [EXAMPLE_ID])
    assert line.split()[1:] == ["jax", "exact", "laplacian"]
    assert "stde-jax" in out


# --- problems -------------------------------------------------------------------------------


def test_problem_plugin_through_entry_point_and_module_attribute(
    tmp_path, monkeypatch, fresh_registries
):
    module = write_module(
        tmp_path,
        "variant_problem_example",
        """
        from problems.inseparable import InseparableProblem

        class PoissonVariant(InseparableProblem):
            def base_name(self):
                return "poisson-two-body"
        """,
    )
    write_distribution(
        tmp_path,
        "variant-problem-example",
        f"""
        [stde_bench.problems]
        poisson-variant = {module}:PoissonVariant
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "poisson-variant" in problems.names()
    builtin = problems.get("poisson-two-body", 5, seed=1)
    for name in ("poisson-variant", f"{module}:PoissonVariant"):
        p = problems.get(name, 5, seed=1)
        assert p.name == name and p.operator == builtin.operator
        z = builtin.sample_domain(jax.random.key(0), 3)
        assert jnp.allclose(jax.vmap(p.exact)(z), jax.vmap(builtin.exact)(z))


# --- plugins that break the contract ------------------------------------------------------

BROKEN_ESTIMATORS = """
import jax.numpy as jnp
from estimators.base import Estimator

class NoOperators(Estimator):
    backend = "jax"
    def laplacian(self, f, x, key=None):
        return f(x)

class NoBackend:
    operators = frozenset({"laplacian"})

class UnknownOperator(Estimator):
    operators = frozenset({"curl"})

class VectorLaplacian(Estimator):
    operators = frozenset({"laplacian"})
    def laplacian(self, f, x, key=None):
        return jnp.zeros_like(x)  # one value per coordinate: not the contract

class NoMethod(Estimator):
    operators = frozenset({"laplacian", "biharmonic"})
    def laplacian(self, f, x, key=None):
        return f(x)

NOT_A_CLASS = 3
"""


@pytest.mark.parametrize(
    ("attribute", "says"),
    [
        ("NoOperators", "operators must be a non-empty frozenset"),
        ("NoBackend", "backend must be one of"),
        ("UnknownOperator", "unknown operators ['curl']"),
        ("VectorLaplacian", "laplacian of a function (d,) -> scalar at d = 3 has shape (3,)"),
        ("NoMethod", "cannot supply 'biharmonic'"),
        ("NOT_A_CLASS", "is 3, not a class or factory"),
        ("Missing", "AttributeError"),
    ],
)
def test_broken_estimator_plugin_is_named(tmp_path, monkeypatch, fresh_registries, attribute, says):
    module = write_module(tmp_path, "broken_estimators_example", BROKEN_ESTIMATORS)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = f"{module}:{attribute}"
    with pytest.raises(ValueError, match=re.escape(f"estimator plugin {spec!r}")) as err:
        estimators.get(spec)
    assert says in str(err.value)
    assert spec not in estimators.REGISTRY  # nothing half-registered


def test_plugin_that_fails_to_import_is_named(tmp_path, monkeypatch, fresh_registries, capsys):
    module = write_module(tmp_path, "fails_on_import_example", "raise ImportError('no gpu')\n")
    write_distribution(
        tmp_path,
        "broken-plugin-example",
        f"""
        [stde_bench.estimators]
        broken-example = {module}:Anything
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec, names in [
        ("broken-example", ["'broken-example'", "broken-plugin-example 0.1"]),
        (f"{module}:Anything", [repr(f"{module}:Anything")]),
    ]:
        with pytest.raises(ValueError, match="could not be imported: ImportError: no gpu") as err:
            estimators.get(spec)
        assert all(n in str(err.value) for n in names), str(err.value)
    # the built-ins' errors still list who can supply a quantity, the broken plugin left out
    able = estimators.supporting("laplacian")
    assert "stde-jax" in able and "broken-example" not in able
    # `stde-bench list` names the broken plugin and still lists the others
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"broken-example +BROKEN: .*no gpu", out)
    assert re.search(r"stde-jax +jax", out)


def test_broken_problem_plugin_is_named(tmp_path, monkeypatch, fresh_registries):
    module = write_module(
        tmp_path,
        "broken_problems_example",
        """
        from problems import Problem

        class CurlProblem(Problem):
            operator = "curl"

        def not_a_problem(**kwargs):
            return None
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for attribute, says in [
        ("CurlProblem", "operator must be one of"),
        ("not_a_problem", "must be a subclass of problems.Problem"),
    ]:
        with pytest.raises(ValueError, match=re.escape(f"problem plugin '{module}:{attribute}'")):
            problems.get(f"{module}:{attribute}", 4)
        with pytest.raises(ValueError, match=re.escape(says)):
            problems.get(f"{module}:{attribute}", 4)


def test_unknown_name_still_lists_the_valid_ones(fresh_registries):
    with pytest.raises(ValueError, match="unknown estimator 'stde-jx'.*Did you mean 'stde-jax'"):
        estimators.get("stde-jx")
    with pytest.raises(ValueError, match="could not be imported: ModuleNotFoundError"):
        estimators.get("no_such_module_anywhere:Thing")
