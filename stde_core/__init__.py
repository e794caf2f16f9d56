"""The leaf under the registries: what ``estimators``, ``problems`` and the harness share.

- ``Registry``: name -> factory, with plugins (``stde_core/registry.py``);
- the vocabulary: ``OPERATORS`` (derivative quantities a residual needs) and ``BACKENDS``;
- ``configure_xla_cpu``: the XLA CPU flags set before JAX starts (``stde_core/xla.py``).

Imports nothing of this project and no framework.
"""

from stde_core.registry import Registry
from stde_core.vocabulary import BACKENDS, OPERATORS
from stde_core.xla import configure_xla_cpu

__all__ = ["BACKENDS", "OPERATORS", "Registry", "configure_xla_cpu"]
