"""Status values as ``str`` enums, so they read well in the database, in JSON and in logs."""

from __future__ import annotations

from enum import StrEnum


class Platform(StrEnum):
    """The kind of device a notification is shown on."""

    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


class Provider(StrEnum):
    """The push service that carries a message to a device."""

    FCM = "fcm"
    APNS = "apns"
    WEBPUSH = "webpush"


#: Which providers can serve which platform (FCM also reaches iOS and web apps that use its SDK).
PLATFORM_PROVIDERS: dict[Platform, frozenset[Provider]] = {
    Platform.ANDROID: frozenset({Provider.FCM}),
    Platform.IOS: frozenset({Provider.APNS, Provider.FCM}),
    Platform.WEB: frozenset({Provider.WEBPUSH, Provider.FCM}),
}


class AttributeType(StrEnum):
    """The type of a user attribute, fixed per workspace once the attribute is first seen."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATETIME = "datetime"


class CampaignState(StrEnum):
    """Where a campaign is in its life."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    RECALLING = "recalling"
    RECALLED = "recalled"


class DeliveryKind(StrEnum):
    """What an outbox row carries: the campaign's message, or the recall signal that follows it."""

    MESSAGE = "message"
    RECALL = "recall"


class DeliveryState(StrEnum):
    """The state of one outbox row (one campaign × device).

    The sender moves a row ``queued → claimed → sent | retry_wait | failed | token_invalid | suppressed |
    cancelled``; the device's own reports then move it on through ``delivered → displayed →
    clicked | dismissed | recalled``.
    """

    QUEUED = "queued"
    CLAIMED = "claimed"
    RETRY_WAIT = "retry_wait"
    SENT = "sent"
    FAILED = "failed"
    TOKEN_INVALID = "token_invalid"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"
    DELIVERED = "delivered"
    DISPLAYED = "displayed"
    CLICKED = "clicked"
    DISMISSED = "dismissed"
    RECALLED = "recalled"

    @property
    def is_lifecycle(self) -> bool:
        """True for the states only a device's report can set."""
        return self in _LIFECYCLE_RANK

    @property
    def lifecycle_rank(self) -> int:
        """Order of the device-reported states; 0 for sender states. A report never lowers the rank."""
        return _LIFECYCLE_RANK.get(self, 0)


_LIFECYCLE_RANK: dict[DeliveryState, int] = {
    DeliveryState.DELIVERED: 1,
    DeliveryState.DISPLAYED: 2,
    # A notification ends exactly one way: clicked, dismissed or recalled; the first report wins.
    DeliveryState.CLICKED: 3,
    DeliveryState.DISMISSED: 3,
    DeliveryState.RECALLED: 3,
}

#: The SDK event names that move a delivery, and the state each one means.
LIFECYCLE_EVENT_STATES: dict[str, DeliveryState] = {
    "push_delivered": DeliveryState.DELIVERED,
    "push_displayed": DeliveryState.DISPLAYED,
    "push_clicked": DeliveryState.CLICKED,
    "push_dismissed": DeliveryState.DISMISSED,
    "push_recalled": DeliveryState.RECALLED,
}
