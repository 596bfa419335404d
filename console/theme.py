"""Light and dark palettes that follow the system, one accent colour, and the semantic colours.

The same semantic colours are used by every widget and chart: green delivered, blue clicked, amber
retrying, red failed or recalled.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory


@dataclass(frozen=True)
class Theme:
    """Colours of one appearance."""

    dark: bool
    window: str
    surface: str
    surface_alt: str
    border: str
    text: str
    text_muted: str
    accent: str
    accent_text: str
    sent: str = "#8b5cf6"
    delivered: str = "#2e9d5b"
    displayed: str = "#14a3a3"
    clicked: str = "#2f6fdf"
    retrying: str = "#d99a1e"
    failed: str = "#d64545"


LIGHT = Theme(False, "#f5f6f8", "#ffffff", "#eef0f4", "#dfe2e8", "#1d2330", "#667085", "#4f5bd5", "#ffffff")
DARK = Theme(True, "#17191e", "#1f2228", "#272b33", "#343944", "#e6e8ee", "#9aa2b1", "#7c86ff", "#0f1115")


def system_prefers_dark() -> bool:
    """Whether the platform asks for a dark appearance (Qt 6 colour-scheme hint)."""
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def current_theme(dark: bool | None = None) -> Theme:
    """The theme for ``dark`` or, when None, for the system's preference."""
    return DARK if (system_prefers_dark() if dark is None else dark) else LIGHT


def apply_theme(app: QApplication, theme: Theme) -> None:
    """Fusion style, the theme's palette and the shared stylesheet."""
    app.setStyle(QStyleFactory.create("Fusion"))
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.surface,
        QPalette.ColorRole.AlternateBase: theme.surface_alt,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.Button: theme.surface,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.Highlight: theme.accent,
        QPalette.ColorRole.HighlightedText: theme.accent_text,
        QPalette.ColorRole.ToolTipBase: theme.surface,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.text_muted,
        QPalette.ColorRole.Mid: theme.border,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(theme.text_muted))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(theme.text_muted))
    app.setPalette(p)
    app.setStyleSheet(stylesheet(theme))


def stylesheet(t: Theme) -> str:
    """The console's stylesheet: an 8 px grid, quiet chrome, one accent colour, 8 px corner radius."""
    return f"""
    QWidget#NavRail {{ background: {t.surface}; border-right: 1px solid {t.border}; }}
    QLabel#Brand {{ font-size: 17px; font-weight: 600; padding: 16px 16px 8px 16px; color: {t.text}; }}
    QListWidget#NavList {{ background: transparent; border: none; outline: none; padding: 8px; }}
    QListWidget#NavList::item {{ padding: 0 8px; margin: 2px 0; border-radius: 8px; color: {t.text}; }}
    QListWidget#NavList::item:hover {{ background: {t.surface_alt}; }}
    QListWidget#NavList::item:selected {{ background: {t.accent}; color: {t.accent_text}; }}
    QLabel#PageTitle {{ font-size: 22px; font-weight: 600; }}
    QLabel#PageContext {{ color: {t.text_muted}; }}
    QFrame#Card {{ background: {t.surface}; border: 1px solid {t.border}; border-radius: 8px; }}
    QLabel#CardLabel {{ color: {t.text_muted}; font-size: 12px; }}
    QLabel#CardValue {{ font-size: 28px; font-weight: 600; }}
    QLabel#CardDetail {{ color: {t.text_muted}; font-size: 12px; }}
    QLabel#EmptyTitle {{ font-size: 18px; font-weight: 600; }}
    QLabel#EmptyText {{ color: {t.text_muted}; }}
    QLabel#Code {{ font-family: monospace; background: {t.surface_alt}; border-radius: 6px; padding: 4px 8px; }}
    QPushButton#Primary {{ background: {t.accent}; color: {t.accent_text}; border: none; border-radius: 8px;
                           padding: 8px 16px; font-weight: 600; }}
    QPushButton#Primary:disabled {{ background: {t.border}; color: {t.text_muted}; }}
    QLabel#CardValueLarge {{ font-size: 34px; font-weight: 600; }}
    QLabel#Inline {{ color: {t.failed}; }}
    QLabel#InlineOk {{ color: {t.delivered}; }}
    QLabel#Badge {{ background: {t.accent}; color: {t.accent_text}; border-radius: 6px; padding: 1px 8px;
                    font-size: 11px; font-weight: 600; }}
    QLabel#SimBadge {{ background: {t.delivered}; color: #ffffff; border-radius: 6px; padding: 1px 8px;
                       font-size: 11px; font-weight: 600; }}
    QLabel#ProdBadge {{ background: {t.failed}; color: #ffffff; border-radius: 6px; padding: 1px 8px;
                        font-size: 11px; font-weight: 600; }}
    QLabel#SectionTitle {{ font-size: 15px; font-weight: 600; }}
    QLabel#Muted {{ color: {t.text_muted}; }}
    QLineEdit, QComboBox, QSpinBox, QPlainTextEdit {{ border: 1px solid {t.border}; border-radius: 6px;
                                                      padding: 5px 8px; background: {t.surface}; }}
    QLineEdit:focus, QPlainTextEdit:focus {{ border-color: {t.accent}; }}
    QPushButton {{ border: 1px solid {t.border}; border-radius: 6px; padding: 6px 12px; background: {t.surface}; }}
    QPushButton:hover {{ background: {t.surface_alt}; }}
    QPushButton:disabled {{ color: {t.text_muted}; background: {t.window}; }}
    QPushButton#Danger {{ color: {t.failed}; }}
    QPushButton#Danger:disabled {{ color: {t.text_muted}; }}
    QTableView {{ background: {t.surface}; border: 1px solid {t.border}; border-radius: 8px;
                  gridline-color: transparent; selection-background-color: {t.accent};
                  selection-color: {t.accent_text}; }}
    QTableView::item {{ padding: 0 8px; }}
    QHeaderView::section {{ background: {t.surface}; color: {t.text_muted}; border: none;
                            border-bottom: 1px solid {t.border}; padding: 8px; font-weight: 600; }}
    QProgressBar {{ border: none; border-radius: 4px; background: {t.surface_alt}; height: 8px; }}
    QProgressBar::chunk {{ border-radius: 4px; background: {t.accent}; }}
    QStatusBar {{ background: {t.surface}; border-top: 1px solid {t.border}; color: {t.text_muted}; }}
    QStatusBar QLabel {{ padding: 0 8px; color: {t.text_muted}; }}
    """
