"""How many personalised messages per second the composer makes: templates rendered, three payloads built.

Per recipient, both sides do the same work: the title and body (Liquid templates using attributes, profile
and recent behaviour, with ``default`` filters) are rendered for that recipient, then the FCM, APNs and
Web Push payloads of a rich message (image, three buttons, badge, sound, collapse key) are built and their
sizes checked on the exact bytes.

* Herald: ``Personaliser.render_for`` — templates compiled once per campaign (cached), rendered per
  recipient — then ``build_request`` for the three platforms.
* Baseline, same run: the templates are parsed for every recipient (``Environment.from_string(...).render``)
  before the same payload building.

Rates are wall-clock messages per second of the one thread doing the work (``figures`` add messages per
CPU-second, which a machine shared with other work distorts less). Recipients are synthetic contexts held in
memory (loading them is measured by the sending benchmarks).
``figures`` also gives Liquid's own compiled-template render in the same pipeline (no fast path), to show
how much of the gain is compilation and how much the fast path.

    python -m bench.render [--recipients 100000] [--baseline-recipients 5000] [--json]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Mapping
from typing import Any

from bench.report import BenchReport, Comparison
from core.composer.content import Button, PushContent
from core.composer.links import LinkPolicy
from core.composer.payloads import Target, build_request
from core.composer.personalise import Personaliser
from core.composer.recipients import RecipientContext, recipient_variables
from core.composer.templates import TemplateEngine
from core.domain import Platform, Provider

TITLE = "{{ first_name | default: 'Hi there' }}, your {{ recent.last_viewed_product | default: 'pick' }} is back"
BODY = ("{{ recent.last_viewed_product | default: 'It' }} is back in stock in {{ user.attributes.city | "
        "default: 'your city' }}. Your cart holds {{ recent.cart_value }} € — order before midnight, "
        "{{ first_name | default: 'friend' | upcase }}!")
CONTENT = PushContent(
    title=TITLE, body=BODY, subtitle="Today only", image="https://img.shop.example/p.jpg",
    buttons=(Button("buy", "Buy now", "https://shop.example/buy"), Button("later", "Later", "https://shop.example/l"),
             Button("stop", "Fewer like this", "https://shop.example/prefs")),
    deep_link="https://shop.example/cart", sound="chime", badge=1, replace_key="cart-reminder", channel="promos",
)
_PRODUCTS = ("Trail shoe", "Rain jacket", "Café au lait mug", "Nordic sweater", "Wool socks", "Tent 2P")


class _InMemory:
    """No database: the benchmark hands recipients to ``render_for`` itself."""

    def load(self, device_ids: Any) -> dict[int, RecipientContext]:
        return {}


def recipients(n: int) -> list[RecipientContext]:
    """``n`` synthetic recipients; every third has no first name, every fourth has viewed nothing."""
    out = []
    for i in range(n):
        attributes: dict[str, Any] = {"city": ("Lyon", "Zürich", "Kraków", "São Paulo")[i % 4], "tier": "gold"}
        if i % 3:
            attributes["first_name"] = ("Ana", "Łukasz", "Zoë", "Mehmet", "李")[i % 5]
        recent: dict[str, Any] = {"cart_value": round(i % 200 * 1.25, 2), "cart_items": i % 4,
                                  "has_open_cart": bool(i % 4)}
        if i % 4:
            recent["last_viewed_product"] = _PRODUCTS[i % len(_PRODUCTS)]
        variables = recipient_variables(external_id=f"u-{i}", attributes=attributes, locale="en",
                                        timezone="Europe/Paris", recent=recent)
        out.append(RecipientContext(i, i, f"u-{i}", Platform.ANDROID, "en", "t", variables))
    return out


TARGETS = (
    Target(1, 7, Platform.ANDROID, Provider.FCM, "f" * 163),
    Target(1, 7, Platform.IOS, Provider.APNS, "a" * 64),
    Target(1, 7, Platform.WEB, Provider.WEBPUSH, "https://push.example/s",
           {"endpoint": "https://push.example/s", "keys": {"p256dh": "k", "auth": "a"}}),
)


def _payloads(content: PushContent, delivery_id: int) -> int:
    size = 0
    for t in TARGETS:
        target = Target(delivery_id, t.campaign_id, t.platform, t.provider, t.token, t.subscription)
        build_request(content, target, 1_780_000_000)
        size += 1
    return size


def run_herald(people: list[RecipientContext]) -> float:
    """Messages per second with compiled templates (the Personaliser)."""
    personaliser = Personaliser(directory=_InMemory(), links=LinkPolicy())  # type: ignore[arg-type]
    render = personaliser.render_for
    return _timed(people, lambda who: render(CONTENT, who), "herald")


def run_liquid_compiled(people: list[RecipientContext]) -> float:
    """Messages per second with Liquid's compiled templates and no fast path."""
    engine = TemplateEngine(strict=False)  # non-strict compiles without the fast path
    title, body = engine.parse_uncached(TITLE, "title"), engine.parse_uncached(BODY, "body")
    return _timed(people, lambda who: _rendered(CONTENT, title.render(**who.variables), body.render(**who.variables)),
                  "liquid_compiled")


def run_baseline(people: list[RecipientContext]) -> float:
    """Messages per second parsing both templates for every recipient."""
    engine = TemplateEngine()
    parse = engine.parse_uncached

    def one(who: RecipientContext) -> PushContent:
        variables: Mapping[str, Any] = who.variables
        return _rendered(CONTENT, parse(TITLE, "title").render(**variables), parse(BODY, "body").render(**variables))

    return _timed(people, one, "baseline")


def _rendered(content: PushContent, title: str, body: str) -> PushContent:
    return content.rendered({"title": title, "body": body})


#: Messages per CPU-second of each run, by run name (a figure: on a shared machine wall time lies).
CPU_RATES: dict[str, float] = {}


def _timed(people: list[RecipientContext], personalise: Callable[[RecipientContext], PushContent],
           name: str = "") -> float:
    for who in people[:200]:  # warm caches and the interpreter's specialisations
        _payloads(personalise(who), who.device_id)
    gc.collect()
    gc.disable()
    try:
        cpu, started = time.process_time(), time.perf_counter()
        for who in people:
            _payloads(personalise(who), who.device_id)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        gc.enable()
    if name:
        CPU_RATES[name] = len(people) / cpu if cpu > 0 else float("inf")
    return len(people) / wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--baseline-recipients", type=int, default=5_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object (CONVENTIONS.md)")
    args = parser.parse_args(argv)
    people = recipients(args.recipients)
    herald = run_herald(people)
    compiled = run_liquid_compiled(people[: max(args.baseline_recipients * 4, 1)])
    baseline = run_baseline(people[: args.baseline_recipients])
    report = BenchReport("render", {"recipients": args.recipients, "baseline_recipients": args.baseline_recipients,
                                    "payloads_per_message": len(TARGETS)})
    report.comparisons.append(Comparison(
        "render", "msg/s", round(herald, 1), round(baseline, 1),
        "Liquid templates parsed for every recipient (same payload building)"))
    report.figures.update({
        "herald_us_per_message": round(1e6 / herald, 2),
        "liquid_compiled_no_fast_path_msg_per_s": round(compiled, 1),
        "baseline_us_per_message": round(1e6 / baseline, 2),
        **{f"{name}_msg_per_cpu_s": round(rate, 1) for name, rate in CPU_RATES.items()},
    })
    report.emit(args.json)


if __name__ == "__main__":
    main()
