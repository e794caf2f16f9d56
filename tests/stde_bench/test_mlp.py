"""The PINN network: parameter counts of docs/protocol.md §2 and Table 10, init, both frameworks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stde_bench import mlp_jax
from stde_bench.mlp import MLPConfig


def test_paper_parameter_counts_without_allocating():
    assert MLPConfig().n_params(10**6) == 128_033_281
    assert MLPConfig(block=50).n_params(10**6) == 2_593_332
    # the real init function, traced abstractly at d = 10^6: same numbers, no allocation
    assert mlp_jax.abstract_count(10**6) == 128_033_281
    assert mlp_jax.abstract_count(10**6, MLPConfig(block=50)) == 2_593_332


@pytest.mark.parametrize("block", [None, 5])
@pytest.mark.parametrize("depth,width", [(4, 128), (8, 16), (2, 7)])
def test_count_formula_matches_built_networks(depth, width, block):
    config = MLPConfig(depth=depth, width=width, block=block)
    params = mlp_jax.init(jax.random.key(0), 20, config)
    assert mlp_jax.count(params) == config.n_params(20)
    torch = pytest.importorskip("torch")
    from stde_bench import mlp_torch

    model = mlp_torch.build(20, config)
    assert sum(p.numel() for p in model.parameters()) == config.n_params(20)
    assert model(torch.zeros(3, 20)).shape == (3,)


def test_pytorch_style_uniform_init_bounds():
    params = mlp_jax.init(jax.random.key(1), 64, MLPConfig(width=32))
    for w, b in params["layers"]:
        bound = 1 / np.sqrt(w.shape[0])
        assert float(jnp.abs(w).max()) <= bound and float(jnp.abs(b).max()) <= bound
        assert float(jnp.abs(w).max()) > 0.8 * bound  # really spread over the interval


def test_apply_scalar_and_weight_sharing_structure():
    config = MLPConfig(width=8, block=4)
    params = mlp_jax.init(jax.random.key(2), 12, config)
    x = jnp.linspace(-1, 1, 12)
    out = mlp_jax.apply(params, x)
    assert out.shape == ()
    # shared layer: permuting whole blocks permutes the features, not the block contents
    w, c = params["shared"]
    feats = jnp.tanh(x.reshape(3, 4) @ w + c)
    assert feats.shape == (3,)


def test_bad_block_is_a_clear_error():
    with pytest.raises(ValueError, match="multiple of the block size"):
        MLPConfig(block=7).features(100)
    with pytest.raises(ValueError, match="depth"):
        MLPConfig(depth=1)
