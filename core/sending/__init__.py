"""Sending: the outbox (durable, leased queue), per-provider lanes, retries, rate control and the engine.

Entry point: ``core.sending.engine.SendEngine``. Progress and state changes are published as the events in
``core.sending.progress`` on a ``core.events.EventBus``.
"""

from core.sending.engine import EngineSettings, RunSummary, SendEngine, StartResult
from core.sending.lane import LaneSettings
from core.sending.outbox import DeliveryOutbox
from core.sending.retry import GiveUp, Retry, RetryPolicy

__all__ = [
    "DeliveryOutbox",
    "EngineSettings",
    "GiveUp",
    "LaneSettings",
    "Retry",
    "RetryPolicy",
    "RunSummary",
    "SendEngine",
    "StartResult",
]
