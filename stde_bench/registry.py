"""The registry type now lives in the leaf package ``stde_core`` (kept importable here for
plugins written against ``stde_bench.registry``)."""

from stde_core.registry import Registry

__all__ = ["Registry"]
