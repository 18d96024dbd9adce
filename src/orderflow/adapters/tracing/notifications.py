"""The notification in the order's trace: staged with the context of the
order's processing span, sent under a span of its own, a child of it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from opentelemetry import propagate, trace

from orderflow.adapters.delegating import DelegatingUnitOfWork, DelegatingUnitOfWorkFactory
from orderflow.adapters.tracing.cache import order_contexts
from orderflow.ports.notifier import Notification, NotificationRecorder, Notifier
from orderflow.ports.unit_of_work import UnitOfWork

_tracer = trace.get_tracer("orderflow.notifications")


class _StampingRecorder(NotificationRecorder):
    """Each notification of an order the current batch traces is staged
    carrying that order's processing context."""

    def __init__(self, inner: NotificationRecorder) -> None:
        self._inner = inner

    def record(self, items: Sequence[tuple[str, Notification]], *, now: datetime) -> None:
        contexts = order_contexts()
        stamped = []
        for notification_id, notification in items:
            found = contexts.get(notification.order_id)
            if found is not None:
                headers: dict[str, str] = {}
                propagate.inject(headers, context=found)
                notification = dataclasses.replace(notification, trace_headers=headers)
            stamped.append((notification_id, notification))
        self._inner.record(stamped, now=now)


class _StampingUnitOfWork(DelegatingUnitOfWork):
    def _bind(self) -> None:
        super()._bind()
        self.notifications = _StampingRecorder(self._inner.notifications)


class TraceStampingUnitOfWorkFactory(DelegatingUnitOfWorkFactory):
    """The processor's units of work, whose staged notifications carry
    their order's trace context."""

    def __call__(self) -> UnitOfWork:
        return _StampingUnitOfWork(self._inner())


class TracedNotifier(Notifier):
    """A send of a notification that carries a trace context is a span of
    that trace; others pass as they are."""

    def __init__(self, inner: Notifier) -> None:
        self._inner = inner

    def send(self, notification: Notification) -> None:
        if not notification.trace_headers:
            self._inner.send(notification)
            return
        with _tracer.start_as_current_span(
            "notification send",
            context=propagate.extract(notification.trace_headers),
            kind=trace.SpanKind.CLIENT,
            attributes={
                "orderflow.order_id": notification.order_id,
                "orderflow.status": notification.status,
            },
        ):
            self._inner.send(notification)
