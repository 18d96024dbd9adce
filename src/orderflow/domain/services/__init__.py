"""Application services: each use case, depending on ports only."""

from orderflow.domain.services.cancelling import OrderCancellation
from orderflow.domain.services.catalog import Catalog
from orderflow.domain.services.placing import OrderPlacement, PlacementResult
from orderflow.domain.services.processing import OrderProcessor
from orderflow.domain.services.queries import OrderQueries
from orderflow.domain.services.relaying import OutboxRelay
from orderflow.domain.services.sweeping import StuckOrderSweeper

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
