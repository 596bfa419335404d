"""Screenshots of the composer: a realistic draft in the page, grabbed offscreen (``console.screenshots``).

    page = sample_compose_page(host, theme)          # to put into the main window for a window shot
    render_compose(app, theme, Path("compose-light.png"))   # or the page alone at 1440×900
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QSize
from PySide6.QtWidgets import QApplication

from console.bridge import SyncEngineHost
from console.compose.page import ComposePage, Host
from console.compose.personalisation import PersonalisationSource
from console.theme import Theme, apply_theme
from core.composer.content import Button, PushContent

#: The draft the screenshots show: every platform's layout in use (image, subtitle, buttons, Liquid).
SAMPLE = PushContent(
    title="Spring sale: 20% off, {{ first_name | default: 'friend' }}",
    subtitle="This weekend only",
    body="Your favourites are back in stock. Tap to shop the new arrivals before they are gone — free "
         "delivery on orders over €40.",
    image="https://cdn.shop.example/spring/hero.jpg",
    deep_link="https://shop.example/sale",
    buttons=(Button("b1", "Shop now", "https://shop.example/sale"), Button("b2", "Remind me later")),
    sound="default", badge=3, channel="promotions", category="SALE", replace_key="spring-sale",
    data={"campaign": "spring"},
)


def sample_compose_page(host: Host | None, theme: Theme, personalisation: PersonalisationSource | None = None,
                        content: PushContent = SAMPLE) -> ComposePage:
    """A ComposePage holding ``content``, previews drawn."""
    page = ComposePage(host or SyncEngineHost(), personalisation, theme)
    page.form.set_content(content)
    page.refresh_now()
    return page


def render_compose(app: QApplication, theme: Theme, out: Path, size: QSize = QSize(1440, 900)) -> Path:
    """Render the composer with the sample draft to ``out`` (PNG) at ``size``."""
    apply_theme(app, theme)
    page = sample_compose_page(None, theme)
    page.resize(size)
    page.show()
    app.processEvents()
    page.grab().save(str(out))
    page.close()
    page.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return out
