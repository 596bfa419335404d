"""How each platform draws a notification: which fields it shows, which it drops, where it cuts the texts.

Written once and used by both sides: the composer's preview (``core.composer.preview``) and the simulator's
tray (``simulator.control`` shows every tray entry through ``displayed``), so the console's device previews
and the virtual devices show the same thing.

The lengths are what a collapsed notification shows on a typical phone or desktop, in user-perceived
characters (grapheme clusters), an ellipsis included:

==========  =====  ========  =====  =======  ==========================================================
platform    title  subtitle  body   buttons  dropped
==========  =====  ========  =====  =======  ==========================================================
android     65     —         240    —        subtitle; buttons (an FCM notification message has no
                                             actions); sound (the channel's sound plays)
ios         110    110       178    4 × 30   icon (the app's icon is used)
web         60     —         120    2 × 30   subtitle, sound and the badge count (Chrome shows at most
                                             ``Notification.maxActions`` = 2 actions)
==========  =====  ========  =====  =======  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.enums import Platform
from core.domain.text import truncate_graphemes


@dataclass(frozen=True, slots=True)
class DisplayRules:
    """One platform's limits; a ``None`` length means the platform drops that field."""

    platform: Platform
    title_max: int
    subtitle_max: int | None
    body_max: int
    max_buttons: int
    button_label_max: int
    shows_icon: bool
    shows_image: bool
    shows_badge: bool
    shows_sound: bool


DISPLAY_RULES: dict[Platform, DisplayRules] = {
    Platform.ANDROID: DisplayRules(Platform.ANDROID, 65, None, 240, 0, 30, shows_icon=True, shows_image=True,
                                   shows_badge=True, shows_sound=False),
    Platform.IOS: DisplayRules(Platform.IOS, 110, 110, 178, 4, 30, shows_icon=False, shows_image=True,
                               shows_badge=True, shows_sound=True),
    Platform.WEB: DisplayRules(Platform.WEB, 60, None, 120, 2, 30, shows_icon=True, shows_image=True,
                               shows_badge=False, shows_sound=False),
}


@dataclass(frozen=True, slots=True)
class ShownButton:
    """An action button as drawn: its id, its (possibly cut) label and where it leads."""

    id: str
    label: str
    link: str | None = None


@dataclass(frozen=True, slots=True)
class DisplayedNotification:
    """A notification as one platform draws it; ``dropped`` and ``truncated`` name fields, in a fixed order."""

    platform: Platform
    title: str
    subtitle: str
    body: str
    image: str | None
    icon: str | None
    buttons: tuple[ShownButton, ...]
    deep_link: str | None
    badge: int | None
    sound: str | None
    dropped: tuple[str, ...] = ()
    truncated: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The JSON form (the simulator's control API and the console's preview use the same keys)."""
        return {
            "platform": self.platform.value, "title": self.title, "subtitle": self.subtitle, "body": self.body,
            "image": self.image, "icon": self.icon,
            "buttons": [{"id": b.id, "label": b.label, "link": b.link} for b in self.buttons],
            "deep_link": self.deep_link, "badge": self.badge, "sound": self.sound,
            "dropped": list(self.dropped), "truncated": list(self.truncated),
        }


def displayed(
    platform: Platform,
    *,
    title: str = "",
    subtitle: str = "",
    body: str = "",
    image: str | None = None,
    icon: str | None = None,
    buttons: tuple[ShownButton, ...] = (),
    deep_link: str | None = None,
    badge: int | None = None,
    sound: str | None = None,
) -> DisplayedNotification:
    """What ``platform`` shows for a notification with these fields."""
    rules = DISPLAY_RULES[platform]
    dropped: list[str] = []
    truncated: list[str] = []

    def cut(name: str, text: str, limit: int | None) -> str:
        if limit is None:
            if text:
                dropped.append(name)
            return ""
        shown = truncate_graphemes(text, limit)
        if shown != text:
            truncated.append(name)
        return shown

    shown_title = cut("title", title, rules.title_max)
    shown_subtitle = cut("subtitle", subtitle, rules.subtitle_max)
    shown_body = cut("body", body, rules.body_max)

    def keep(name: str, value: object, shows: bool) -> bool:
        if value is not None and not shows:
            dropped.append(name)
        return shows

    shown_image = image if keep("image", image, rules.shows_image) else None
    shown_icon = icon if keep("icon", icon, rules.shows_icon) else None
    shown_badge = badge if keep("badge", badge, rules.shows_badge) else None
    shown_sound = sound if keep("sound", sound, rules.shows_sound) else None
    if len(buttons) > rules.max_buttons:
        dropped.append("buttons" if rules.max_buttons == 0 else f"buttons[{rules.max_buttons}:]")
    kept = []
    for b in buttons[: rules.max_buttons]:
        label = truncate_graphemes(b.label, rules.button_label_max)
        if label != b.label and "buttons.label" not in truncated:
            truncated.append("buttons.label")
        kept.append(ShownButton(b.id, label, b.link))
    return DisplayedNotification(
        platform, shown_title, shown_subtitle, shown_body, shown_image, shown_icon, tuple(kept), deep_link,
        shown_badge, shown_sound, tuple(dropped), tuple(truncated),
    )
