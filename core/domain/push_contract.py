"""The contract between Herald's sender and the app code on a device (the Herald SDK).

Both sides import these names: the sender when it builds platform payloads, the simulator's virtual
devices (standing in for the SDK) when they read them. Nothing else in a payload is Herald's business.

Campaign messages carry the delivery they belong to, so that the device can report lifecycle events
(``push_delivered`` … ``push_recalled``) with ``properties.delivery_id``:

* **FCM**: ``message.data`` (string values) holds ``herald_delivery_id``, ``herald_campaign_id`` and
  ``herald_type``; the notification itself is ``message.android.notification`` / ``message.notification``.
  The click action is also in ``herald_link``, the buttons (which an FCM notification cannot carry) in
  ``herald_buttons`` as JSON ``[{"id", "label", "link"}]``, for the SDK to build, and a badge increment in
  ``herald_badge_increment``.
* **APNs**: the JSON payload has a top-level ``"herald"`` object with ``delivery_id``, ``campaign_id`` and
  ``type`` next to ``"aps"``; ``image_url``, ``deep_link`` and ``buttons`` (``[{"id", "label", "link"}]``)
  sit at the top level for the notification service extension.
* **Web Push**: the decrypted body is JSON: ``title``, ``body``, ``icon``, ``image``, ``actions``, ``tag``,
  ``renotify``, ``requireInteraction``, ``data`` (``url``, ``links``: action → URL, …) and the same
  ``"herald"`` object.

A badge *increment* (the sender cannot know the count on the device) is ``"badge_increment": n`` in the
``"herald"`` object (APNs, Web Push) or ``herald_badge_increment`` (FCM); the SDK adds it to the badge.

A **recall** is a message whose type is ``recall``; it names what to remove:

* FCM: a data-only message, ``herald_type=recall``, ``herald_recall_tags`` (comma-separated Android tags)
  and ``herald_recall_ids`` (comma-separated delivery ids).
* APNs: a background push (``content-available: 1``, priority 5, push type ``background``) with
  ``"herald": {"type": "recall", "collapse_ids": [...], "delivery_ids": [...]}``.
* Web Push: ``{"herald": {"type": "recall", "tags": [...], "delivery_ids": [...]}}`` that the service
  worker turns into ``getNotifications({tag})`` + ``close()``.

A notification whose tag / collapse id / delivery id matches is removed from the tray, or dropped from the
device's pending queue when it has not arrived yet; a clicked one is gone already.
"""

from __future__ import annotations

from typing import Final

TYPE_MESSAGE: Final = "message"
TYPE_RECALL: Final = "recall"

#: FCM ``data`` keys (FCM data values must be strings).
FCM_DELIVERY_ID: Final = "herald_delivery_id"
FCM_CAMPAIGN_ID: Final = "herald_campaign_id"
FCM_TYPE: Final = "herald_type"
FCM_RECALL_TAGS: Final = "herald_recall_tags"
FCM_RECALL_IDS: Final = "herald_recall_ids"
FCM_LINK: Final = "herald_link"
FCM_BUTTONS: Final = "herald_buttons"
FCM_BADGE_INCREMENT: Final = "herald_badge_increment"
#: Key of the badge increment in Herald's object (APNs, Web Push).
BADGE_INCREMENT: Final = "badge_increment"

#: Key of Herald's object in APNs and Web Push JSON payloads.
HERALD_KEY: Final = "herald"

#: SDK event names a device reports for a push, in the order they can happen.
PUSH_EVENTS: Final = ("push_delivered", "push_displayed", "push_clicked", "push_dismissed", "push_recalled")
#: Other SDK events the device reports about itself.
DEVICE_EVENTS: Final = ("push_opt_out", "push_opt_in", "app_uninstalled", "app_installed")
