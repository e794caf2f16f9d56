"""The words estimators and problems agree on.

``OPERATORS``: the derivative quantities a problem's residual can need and an estimator
can supply (``problems/base.py`` and ``estimators/base.py`` state their shapes);
``BACKENDS``: the array frameworks a problem is built for and an estimator runs in.
"""

OPERATORS = ("laplacian", "biharmonic", "partials", "laplacian-gradient")
BACKENDS = ("jax", "torch")
