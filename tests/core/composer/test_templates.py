"""Personalisation templates: strict mode, defaults, locales, limits, the sandbox, and the fast path's fidelity."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from liquid import Environment, StrictDefaultUndefined

from core.composer.content import Button, LocalizedText, PushContent
from core.composer.links import LinkPolicy
from core.composer.personalise import Personaliser
from core.composer.recipients import RecipientContext, recipient_variables
from core.composer.templates import TemplateEngine, TemplateError, plain_variables
from core.domain import Platform


class NoDirectory:
    """Recipients are given directly in these tests."""

    def load(self, device_ids: Any) -> dict[int, RecipientContext]:
        return {}


def recipient(locale: str | None = "en", **attributes: Any) -> RecipientContext:
    variables = recipient_variables(external_id="u-17", attributes=attributes, locale=locale,
                                    recent={"cart_value": 42.5, "last_viewed_product": "Red shoes"})
    return RecipientContext(5, 17, "u-17", Platform.IOS, locale, "tok", variables)


def personaliser() -> Personaliser:
    return Personaliser(directory=NoDirectory(), links=LinkPolicy.of("shop"))  # type: ignore[arg-type]


def test_variables_from_attributes_profile_and_recent_behaviour() -> None:
    content = PushContent(title="Hi {{ first_name }} ({{ user.external_id }})",
                          body="{{ recent.last_viewed_product }} — cart {{ recent.cart_value }} €")
    out = personaliser().render_for(content, recipient(first_name="Ana"))
    assert (out.title, out.body) == ("Hi Ana (u-17)", "Red shoes — cart 42.5 €")


def test_an_undefined_variable_in_strict_mode_names_field_position_and_recipient() -> None:
    content = PushContent(title="Sale", body="Dear {{ first_name }},\nyour {{ recent.wishlist_item }} is back")
    with pytest.raises(TemplateError) as caught:
        personaliser().render_for(content, recipient(first_name="Ana"))
    error = caught.value
    assert (error.field, error.line, error.column) == ("body", 2, 9)
    assert "user u-17 (device 5)" in str(error) and "wishlist_item" in str(error)
    assert str(error).startswith("body, line 2, column 9:")


def test_the_default_filter_makes_a_variable_optional() -> None:
    content = PushContent(title="Hi {{ first_name | default: 'there' }}", body="{{ nickname | default: first_name }}")
    out = personaliser().render_for(content, recipient(first_name="Ana"))
    assert (out.title, out.body) == ("Hi Ana", "Ana")
    assert personaliser().render_for(content, recipient(first_name="")).title == "Hi there"


def test_locale_fallback_chain() -> None:
    content = PushContent(
        title="Hello {{ first_name }}", body="Your cart is waiting", default_locale="en",
        buttons=(Button("buy", "Buy", "https://shop.example/buy"),),
        locales={"pt": LocalizedText(title="Olá {{ first_name }}", body="O seu carrinho espera"),
                 "pt-BR": LocalizedText(title="Oi {{ first_name }}", buttons={"buy": "Comprar"}),
                 "es": LocalizedText(body="Tu carrito te espera")},
        locale_fallbacks={"ca": ("es",)},
    )
    p = personaliser()
    brazil = p.render_for(content, recipient("pt_BR", first_name="Ana"))
    assert (brazil.title, brazil.body, brazil.buttons[0].label) == ("Oi Ana", "O seu carrinho espera", "Comprar")
    catalan = p.render_for(content, recipient("ca-ES", first_name="Núria"))
    assert (catalan.title, catalan.body) == ("Hello Núria", "Tu carrito te espera")
    unknown = p.render_for(content, recipient("ja", first_name="Yui"))
    assert (unknown.title, unknown.body, unknown.buttons[0].label) == ("Hello Yui", "Your cart is waiting", "Buy")
    assert content.locale_chain("pt-BR") == ("pt-BR", "pt")


@pytest.mark.parametrize("source", [
    "{% for i in (1..1000000000) %}x{% endfor %}",
    "{% for i in (1..999) %}{% for j in (1..999) %}{% endfor %}{% endfor %}",
])
def test_a_template_that_loops_forever_is_stopped(source: str) -> None:
    with pytest.raises(TemplateError, match="stopped: it ran more than 1,000 loop iterations for user u-17"):
        personaliser().render_for(PushContent(title="t", body=source), recipient())


def test_a_template_that_writes_megabytes_is_stopped() -> None:
    big = "{% for i in (1..999) %}" + "x" * 1000 + "{% endfor %}"
    with pytest.raises(TemplateError, match="stopped: it wrote more than 16,384 characters"):
        personaliser().render_for(PushContent(title="t", body=big), recipient())
    doubling = "{% assign a = 'xxxxxxxxxx' %}{% for i in (1..30) %}{% capture a %}{{ a }}{{ a }}{% endcapture %}" \
               "{% endfor %}{{ a }}"
    with pytest.raises(TemplateError, match="stopped"):
        personaliser().render_for(PushContent(title="t", body=doubling), recipient())


@pytest.mark.parametrize("source", ["{% include '/etc/passwd' %}", "{% render 'secrets' %}"])
def test_a_template_cannot_read_files(source: str) -> None:
    with pytest.raises(TemplateError, match="unexpected tag"):
        TemplateEngine().compile(source, "body")


@pytest.mark.parametrize("source", [
    "{{ user.__class__ }}", "{{ user.attributes.__dict__ }}", "{{ first_name.__class__.__mro__ }}",
    "{{ recent.cart_value.real }}", "{{ user.items }}", "{{ os.environ }}",
])
def test_a_template_cannot_reach_attributes_outside_its_context(source: str) -> None:
    with pytest.raises(TemplateError, match="undefined"):
        personaliser().render_for(PushContent(title="t", body=source), recipient(first_name="Ana"))


def test_variables_are_plain_data_cut_at_a_depth() -> None:
    class Secret:
        def __str__(self) -> str:
            return "secret"

    deep: dict[str, Any] = {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}
    plain = plain_variables({"obj": Secret(), "deep": deep, "n": (1, 2)})
    assert plain["obj"] == "secret" and plain["n"] == [1, 2]
    assert plain["deep"]["a"]["b"]["c"]["d"]["e"] is None


def test_templates_are_compiled_once_per_campaign() -> None:
    p = personaliser()
    content = PushContent(title="Hi {{ first_name }}", body="{{ recent.last_viewed_product }}")
    for name in ("Ana", "Bo", "Cy"):
        p.render_for(content, recipient(first_name=name))
    assert p.engine.compiled == 2


def test_a_syntax_error_is_reported_with_its_position() -> None:
    with pytest.raises(TemplateError, match=r"title, line 1, column 4"):
        TemplateEngine().compile("Hi {{ first_name ", "title")


def test_a_rendered_link_is_checked_for_the_recipient() -> None:
    content = PushContent(title="t", body="b", deep_link="{{ link }}")
    with pytest.raises(Exception, match=r"javascript: links are refused.*user u-17"):
        personaliser().render_for(content, recipient(link="javascript:alert(1)"))
    ok = personaliser().render_for(content, recipient(link="https://BÜCHER.example/x"))
    assert ok.deep_link == "https://xn--bcher-kva.example/x"


# -- the fast path renders exactly what Liquid renders ----------------------------------------------------

_reference = Environment(undefined=StrictDefaultUndefined)
values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from(["", " ana ", "ÉLAN", "mIxEd", "0", "false"]))
scopes = st.fixed_dictionaries({}, optional={"name": values, "user": st.fixed_dictionaries(
    {}, optional={"city": values, "size": values})})
templates = st.sampled_from([
    "Hi {{ name }}!", "{{ name | default: 'friend' }}", "{{ user.city | default: 'x' | upcase }}",
    "{{ name | downcase }} {{ name | capitalize }}", "{{ user.size }}", "{{ name | strip | default: 5 }}",
    "{{ user['city'] | default: true }}", "{{ 'lit' }}-{{ 3 }}", "{{ user.city | rstrip | lstrip }}",
    "{{ user.size | default: 'n' }}", "{{ name.size | default: 0 }}", "{{ user.first | default: 'f' }}",
    "{{ user.city.size | default: 'none' }}", "{{ user.nope | default: 'x' | upcase }}",
])


@given(source=templates, scope=scopes)
@settings(max_examples=300, deadline=None)
def test_the_fast_path_agrees_with_liquid(source: str, scope: dict[str, Any]) -> None:
    compiled = TemplateEngine().compile(source, "body")
    assert compiled.is_fast
    try:
        expected: str | None = _reference.from_string(source).render(**scope)
    except Exception:
        expected = None
    if expected is None:
        with pytest.raises(TemplateError):
            compiled.render(scope)
    else:
        assert compiled.render(scope) == expected
