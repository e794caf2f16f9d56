"""stde-bench: harness, command line and reports for the derivative-estimator benchmark.

The estimators live in the ``estimators`` package and the PDE problems in ``problems``;
this package holds what is shared by both (the registry type, the PINN models), the
training harness, the measurements, the ``stde-bench`` command and the report renderer.
Importing it imports no framework.
"""

__version__ = "0.1.0"
