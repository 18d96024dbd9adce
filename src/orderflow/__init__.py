"""orderflow: e-commerce order processing as a hexagonal domain library.

The library entry point is :func:`orderflow.bootstrap`, which builds the
services from a configuration (environment variables by default).
"""

from orderflow.bootstrap import Orderflow, bootstrap
from orderflow.config import Settings

__all__ = ["Orderflow", "Settings", "bootstrap"]
__version__ = "0.1.0"
