"""The use cases: each depends on ports only, and holds no threads, locks,
caches or timers (those are adapters, composed in containers.py)."""

from orderflow.application.cancelling import OrderCancellation
from orderflow.application.catalog import Catalog
from orderflow.application.placing import OrderPlacement
from orderflow.application.processing import OrderProcessor
from orderflow.application.queries import OrderQueries
from orderflow.application.relaying import OutboxRelay
from orderflow.application.sweeping import StuckOrderSweeper
from orderflow.ports.placement import PlacementResult

__all__ = [
    "Catalog",
    "OrderCancellation",
    "OrderPlacement",
    "OrderProcessor",
    "OrderQueries",
    "OutboxRelay",
    "PlacementResult",
    "StuckOrderSweeper",
]
