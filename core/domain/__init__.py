"""Shared value types of Herald: enums and frozen dataclasses, free of persistence and I/O.

The simulator may import this package (and only this one from ``core``).
"""

from core.domain.enums import (
    LIFECYCLE_EVENT_STATES,
    AttributeType,
    CampaignState,
    DeliveryKind,
    DeliveryState,
    Platform,
    Provider,
)

__all__ = [
    "LIFECYCLE_EVENT_STATES",
    "AttributeType",
    "CampaignState",
    "DeliveryKind",
    "DeliveryState",
    "Platform",
    "Provider",
]
