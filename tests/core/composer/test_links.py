"""Link safety: https or an allow-listed app scheme, dangerous schemes refused, IDNA-normalised first."""

from __future__ import annotations

import pytest

from core.composer.content import Button, PushContent
from core.composer.links import LinkPolicy, check_link
from core.errors import ValidationError

POLICY = LinkPolicy.of("shop")


@pytest.mark.parametrize(("url", "expected"), [
    ("https://shop.example/sale?x=1#top", "https://shop.example/sale?x=1#top"),
    ("HTTPS://Shop.EXAMPLE/Sale", "https://shop.example/Sale"),
    ("https://ｓｈｏｐ．ｅｘａｍｐｌｅ/a", "https://shop.example/a"),
    ("https://bücher.example/b", "https://xn--bcher-kva.example/b"),
    ("  https://shop.example/\n", "https://shop.example/"),
    ("shop://cart/42", "shop://cart/42"),
    ("SHOP://cart", "shop://cart"),
])
def test_safe_links_are_normalised(url: str, expected: str) -> None:
    assert check_link(url, "deep_link", POLICY) == expected


@pytest.mark.parametrize(("url", "reason"), [
    ("javascript:alert(1)", "javascript: links are refused because it runs script"),
    (" JaVaScRiPt:alert(1)", "javascript: links are refused"),
    ("java\tscript:alert(1)", "javascript: links are refused"),
    ("data:text/html;base64,PHNjcmlwdD4=", "data: links are refused"),
    ("file:///etc/passwd", "file: links are refused because it reads files"),
    ("intent://scan/#Intent;scheme=zxing;end", "intent: links are refused because it launches"),
    ("http://shop.example", "plain http; use https:// or an allow-listed app scheme"),
    ("ftp://shop.example", "the ftp: scheme is not allowed"),
    ("other://x", r"the other: scheme is not allowed.*allowed app schemes: shop:"),
    ("/relative/path", "not an absolute URL"),
])
def test_unsafe_links_are_refused_with_a_clear_message(url: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as caught:
        check_link(url, "deep_link", POLICY)
    assert caught.value.field == "deep_link"


def test_images_must_be_https_even_with_app_schemes_allowed() -> None:
    with pytest.raises(ValidationError, match="use https://"):
        check_link("shop://img.png", "image", POLICY, app_schemes_allowed=False)


def test_content_refuses_dangerous_links_as_soon_as_it_is_written() -> None:
    with pytest.raises(ValidationError, match=r"buttons.1.link: javascript: links are refused"):
        PushContent(title="t", buttons=(Button("a", "A", "https://ok.example"), Button("b", "B", "javascript:x")))


def test_dangerous_schemes_cannot_be_allow_listed() -> None:
    with pytest.raises(ValidationError, match="cannot be allow-listed"):
        LinkPolicy.of("javascript")
