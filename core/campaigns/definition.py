"""A campaign written as a file (TOML or JSON): name, content, audience and send settings.

::

    name = "Spring sale"

    [content]
    title = "Spring sale: 20% off"
    body = "Only this weekend."
    deep_link = "https://shop.example/sale"

    [audience]
    all_devices = true              # or: external_ids = ["u1", "u2"]   or: external_ids_file = "vip.txt"

    [settings]
    throttle_per_minute = 0         # 0 = as fast as the providers allow

Errors name the file and the field, and say what to write instead.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.composer.content import PushContent
from core.composer.library import validate_for_saving
from core.composer.links import LinkPolicy
from core.errors import ConfigurationError, ValidationError


@dataclass(frozen=True, slots=True)
class Audience:
    """Who gets the campaign: every reachable device, or the devices of the listed users."""

    all_devices: bool = False
    external_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with the campaign."""
        return {"all_devices": True} if self.all_devices else {"external_ids": list(self.external_ids)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Audience:
        """The audience from its stored form."""
        return cls(bool(raw.get("all_devices")), tuple(raw.get("external_ids", ())))


@dataclass(frozen=True, slots=True)
class CampaignDefinition:
    """Everything needed to create a campaign."""

    name: str
    content: PushContent
    audience: Audience
    settings: dict[str, Any] = field(default_factory=dict)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the campaign file {path}: {exc.strerror}") from None
    try:
        is_json = path.suffix.lower() == ".json"
        data = json.loads(text) if is_json else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid {'JSON' if is_json else 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: the top level must be a table/object")
    return data


def load_definition(path: Path) -> CampaignDefinition:
    """Parse and validate a campaign file; ConfigurationError names the file and the field."""
    data = _read(path)
    try:
        return parse_definition(data, base=path.parent)
    except ValidationError as exc:
        where = f" (field {exc.field})" if exc.field else ""
        raise ConfigurationError(f"{path}{where}: {exc}") from None


def parse_definition(data: Mapping[str, Any], base: Path | None = None) -> CampaignDefinition:
    """Validate a campaign's dict form."""
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name is required", "name")
    content_raw = data.get("content")
    if not isinstance(content_raw, Mapping):
        raise ValidationError("a [content] table with at least a title or body is required", "content")
    try:
        content = validate_for_saving(PushContent.from_dict(content_raw), LinkPolicy.from_env())
    except ValidationError as exc:
        raise ValidationError(str(exc), f"content.{exc.field}" if exc.field else "content") from None
    audience = _audience(data.get("audience"), base)
    settings = data.get("settings", {})
    if not isinstance(settings, Mapping):
        raise ValidationError("settings must be a table", "settings")
    throttle = settings.get("throttle_per_minute", 0)
    if not isinstance(throttle, int) or throttle < 0:
        raise ValidationError("throttle_per_minute must be a whole number ≥ 0", "settings.throttle_per_minute")
    return CampaignDefinition(name.strip(), content, audience, dict(settings))


def _audience(raw: Any, base: Path | None) -> Audience:
    if not isinstance(raw, Mapping):
        raise ValidationError("an [audience] table is required: all_devices = true, or external_ids = [...]",
                              "audience")
    if raw.get("all_devices") is True:
        return Audience(all_devices=True)
    ids: list[str] = []
    listed = raw.get("external_ids", [])
    if not isinstance(listed, list) or not all(isinstance(i, str) and i for i in listed):
        raise ValidationError("external_ids must be a list of user ids", "audience.external_ids")
    ids.extend(listed)
    file_name = raw.get("external_ids_file")
    if file_name is not None:
        path = (base or Path.cwd()) / str(file_name)
        try:
            ids.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        except OSError as exc:
            raise ValidationError(f"cannot read {path}: {exc.strerror}", "audience.external_ids_file") from None
    if not ids:
        raise ValidationError("the audience is empty: set all_devices = true or list external_ids", "audience")
    return Audience(external_ids=tuple(dict.fromkeys(ids)))
