"""``estimators.sampling.subset``: Floyd's draw of K distinct coordinates."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

from estimators.sampling import index_set, subset

pytestmark = pytest.mark.fast_first  # test-fast: one case per test (tests/conftest.py)


def _draws(dim: int, samples: int, n: int, seed: int = 0) -> np.ndarray:
    keys = jax.random.split(jax.random.key(seed), n)
    return np.asarray(jax.jit(jax.vmap(lambda k: subset(k, dim, samples)))(keys))


@pytest.mark.parametrize("dim, samples", [(1, 1), (5, 5), (7, 1), (1000, 16)])
def test_distinct_and_in_range(dim, samples):
    draws = _draws(dim, samples, 200)
    assert draws.shape == (200, samples)
    assert draws.min() >= 0 and draws.max() < dim
    assert all(len(set(row)) == samples for row in draws)


def test_every_ordered_tuple_equally_likely():
    """Chi-square over the 6·5·4 = 120 ordered triples of range(6): with 60,000 draws
    the statistic has mean 119 and sd 15.4; a wrong draw (Floyd's set without the final
    shuffle, or a biased t) lands in the thousands.  246 is the 1e-10 upper quantile."""
    dim, samples, n = 6, 3, 60_000
    draws = _draws(dim, samples, n)
    tuples = list(itertools.permutations(range(dim), samples))
    index = {t: k for k, t in enumerate(tuples)}
    counts = np.bincount([index[tuple(row)] for row in draws], minlength=len(tuples))
    expected = n / len(tuples)
    statistic = ((counts - expected) ** 2 / expected).sum()
    assert statistic < 246, statistic


def test_index_set_is_the_subset_and_its_scale():
    key = jax.random.key(3)
    index, scale = index_set(key, 50, 8)
    np.testing.assert_array_equal(index, subset(key, 50, 8))
    assert scale == 50 / 8
