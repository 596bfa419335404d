"""The selected device: who and what it is, its tray (click, a button, dismiss), pending queue and event log.

The pane only shows what it is given (``show_device``) and asks for actions through a signal; the page
sends them to the control API on the engine thread and refreshes.

Signals:
    action_requested(int, str, object): device id, action (``click``, ``dismiss``, ``offline``, ``online``,
        ``uninstall``, ``reinstall``) and the JSON body (``{"message_id": …, "button": …}`` or ``{}``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.simulator.tiles import PLATFORM_LABELS
from console.theme import Theme


def clock(value: str | None) -> str:
    """``14:03:07`` from an ISO 8601 time (local time), '' for None."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return value


class TrayEntryCard(QFrame):
    """One notification in the tray with its actions."""

    def __init__(self, entry: dict[str, Any], on_action: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="Card")
        self.entry = entry
        note = entry.get("notification") or {}
        self.message_id = str(entry.get("message_id"))
        self.title = QLabel(note.get("title") or "(no title)", objectName="TrayTitle")
        self.title.setWordWrap(True)
        self.body = QLabel(note.get("body") or "", objectName="TrayBody")
        self.body.setWordWrap(True)
        self.body.setVisible(bool(note.get("body")))
        when = clock(entry.get("displayed_at") or entry.get("received_at"))
        campaign = entry.get("campaign_id")
        meta = " · ".join(p for p in (when, f"campaign {campaign}" if campaign else "",
                                      f"delivery {entry['delivery_id']}" if entry.get("delivery_id") else "") if p)
        self.meta = QLabel(meta, objectName="TrayMeta")
        self.click = QPushButton("Open")
        self.click.setToolTip("Tap the notification: the device reports a click and opens its link")
        self.click.clicked.connect(lambda: on_action("click", {"message_id": self.message_id}))
        self.dismiss = QPushButton("Dismiss")
        self.dismiss.setToolTip("Swipe the notification away")
        self.dismiss.clicked.connect(lambda: on_action("dismiss", {"message_id": self.message_id}))
        actions = QHBoxLayout()
        actions.setSpacing(8)
        self.buttons: list[QPushButton] = []
        for button in note.get("buttons") or []:
            b = QPushButton(button.get("label") or button.get("id"))
            b.setToolTip(f"Press the “{button.get('label')}” action" +
                         (f" → {button['link']}" if button.get("link") else ""))
            b.clicked.connect(lambda _=False, bid=button.get("id"): on_action(
                "click", {"message_id": self.message_id, "button": bid}))
            self.buttons.append(b)
            actions.addWidget(b)
        actions.addStretch(1)
        actions.addWidget(self.click)
        actions.addWidget(self.dismiss)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.body)
        layout.addWidget(self.meta)
        layout.addLayout(actions)


class DeviceDetail(QWidget):
    """The selected device; see the module docstring."""

    action_requested = Signal(int, str, object)

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.device: dict[str, Any] | None = None
        self.heading = QLabel("No device selected", objectName="DetailTitle")
        self.facts = QLabel("Pick a tile to see its tray, pending queue and events.", objectName="PageContext")
        self.facts.setWordWrap(True)
        self.online_button = QPushButton("Go offline")
        self.online_button.setToolTip("Offline devices queue pushes until they come back online")
        self.online_button.clicked.connect(self._toggle_online)
        self.install_button = QPushButton("Uninstall app")
        self.install_button.setToolTip("Uninstalled apps answer their provider with an unregistered token")
        self.install_button.clicked.connect(self._toggle_install)
        device_actions = QHBoxLayout()
        device_actions.setSpacing(8)
        device_actions.addWidget(self.online_button)
        device_actions.addWidget(self.install_button)
        device_actions.addStretch(1)

        self.tray_box = QVBoxLayout()
        self.tray_box.setSpacing(8)
        self.tray_empty = QLabel("The tray is empty. Send a push, or wait for one to arrive.", objectName="EmptyText")
        self.tray_empty.setWordWrap(True)
        self.tray_box.addWidget(self.tray_empty)
        tray_inner = QWidget(objectName="TrayInner")
        tray_layout = QVBoxLayout(tray_inner)
        tray_layout.setContentsMargins(0, 0, 4, 0)
        tray_layout.addLayout(self.tray_box)
        tray_layout.addStretch(1)
        tray_scroll = QScrollArea()
        tray_scroll.setWidgetResizable(True)
        tray_scroll.setFrameShape(QFrame.Shape.NoFrame)
        tray_scroll.setWidget(tray_inner)
        self.cards: list[TrayEntryCard] = []
        self.pending = QListWidget(objectName="Log")
        self.events = QListWidget(objectName="Log")
        self.tabs = QTabWidget()
        self.tabs.addTab(tray_scroll, "Tray")
        self.tabs.addTab(self.pending, "Pending")
        self.tabs.addTab(self.events, "Events")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addWidget(self.heading)
        layout.addWidget(self.facts)
        layout.addLayout(device_actions)
        layout.addWidget(self.tabs, 1)
        self._set_enabled(False)

    def _set_enabled(self, enabled: bool) -> None:
        self.online_button.setEnabled(enabled)
        self.install_button.setEnabled(enabled)

    def _emit(self, action: str, body: dict[str, Any]) -> None:
        if self.device is not None:
            self.action_requested.emit(int(self.device["id"]), action, body)

    def _toggle_online(self) -> None:
        if self.device is not None:
            self._emit("offline" if self.device.get("online") else "online", {})

    def _toggle_install(self) -> None:
        if self.device is not None:
            self._emit("uninstall" if self.device.get("installed", True) else "reinstall", {})

    def clear(self) -> None:
        """Show no device."""
        self.device = None
        self.heading.setText("No device selected")
        self.facts.setText("Pick a tile to see its tray, pending queue and events.")
        self._fill_tray([])
        self.pending.clear()
        self.events.clear()
        self._set_enabled(False)

    def show_device(self, detail: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """Show ``detail`` (``/control/devices/{id}``) and its ``events`` (oldest first)."""
        self.device = detail
        platform = PLATFORM_LABELS.get(str(detail.get("platform")), str(detail.get("platform")))
        self.heading.setText(f"{detail.get('user') or 'Device'} · {platform} #{detail['id']}")
        state = "online" if detail.get("online") else "offline"
        if not detail.get("installed", True):
            state = "app uninstalled"
        if not detail.get("push_enabled", True):
            state += ", notifications off"
        self.facts.setText(" · ".join(str(p) for p in (
            state, detail.get("locale"), detail.get("timezone"), f"app {detail.get('app_version')}",
            str(detail.get("provider", "")).upper()) if p))
        self.online_button.setText("Go offline" if detail.get("online") else "Go online")
        self.install_button.setText("Uninstall app" if detail.get("installed", True) else "Reinstall app")
        self._set_enabled(True)
        self._fill_tray(list(reversed(detail.get("tray") or [])))
        self.tabs.setTabText(0, f"Tray ({len(detail.get('tray') or [])})")
        self.tabs.setTabText(1, f"Pending ({len(detail.get('pending') or [])})")
        self.pending.clear()
        for item in detail.get("pending") or []:
            note = item.get("notification") or {}
            what = note.get("title") or f"{item.get('kind')} message"
            self.pending.addItem(f"{clock(item.get('received_at'))}  {what}  · expires {clock(item.get('expires_at'))}")
        self.events.clear()
        for event in reversed(events):
            extra = f" · button {event['button']}" if event.get("button") else ""
            extra += f" · delivery {event['delivery_id']}" if event.get("delivery_id") else ""
            self.events.addItem(f"{clock(event.get('at'))}  {event.get('name')}{extra}")

    def _fill_tray(self, entries: list[dict[str, Any]]) -> None:
        wanted = [str(e.get("message_id")) for e in entries]
        if wanted == [c.message_id for c in self.cards]:
            return
        for card in self.cards:
            self.tray_box.removeWidget(card)
            card.deleteLater()
        self.cards = []
        for entry in entries:
            card = TrayEntryCard(entry, self._emit)
            self.cards.append(card)
            self.tray_box.addWidget(card)
        self.tray_empty.setVisible(not entries)

    def event_names(self) -> list[str]:
        """The event log's lines, newest first (what the user reads)."""
        return [self.events.item(i).text() for i in range(self.events.count())]


__all__ = ["DeviceDetail", "TrayEntryCard"]
