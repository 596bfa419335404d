"""Fault settings and seeded fault draws, as the control API and the services use them."""

from __future__ import annotations

import json
import random
import threading

import pytest

from simulator.services.faults import (
    FaultDecision,
    FaultInjector,
    FaultKind,
    FaultSettings,
    Latency,
    LatencyKind,
    ServiceFaults,
)


def draws(injector: FaultInjector, n: int) -> list[FaultDecision]:
    return [injector.decide() for _ in range(n)]


def test_no_faults_by_default() -> None:
    injector = FaultInjector("apns")
    assert not injector.settings.active
    assert set(draws(injector, 100)) == {FaultDecision()}


def test_same_seed_same_faults_and_other_seed_differs() -> None:
    settings = {"rate_429": 0.2, "rate_500": 0.1, "rate_503": 0.1, "reset_rate": 0.05,
                "latency": {"kind": "lognormal", "median": 0.01, "sigma": 0.5}}
    a, b, c = FaultInjector("fcm", seed=3), FaultInjector("fcm", seed=3), FaultInjector("fcm", seed=4)
    for injector in (a, b, c):
        injector.update(**settings)
    assert draws(a, 200) == draws(b, 200)
    assert draws(a, 200) != draws(c, 200)


def test_rates_are_honoured() -> None:
    injector = FaultInjector("webpush", seed=11)
    injector.update(rate_429=0.3, rate_500=0.1, rate_503=0.1, rate_auth_error=0.1, retry_after_s=5)
    kinds = [d.kind for d in draws(injector, 5000)]
    assert 0.27 < kinds.count(FaultKind.THROTTLED) / 5000 < 0.33
    for kind in (FaultKind.INTERNAL, FaultKind.UNAVAILABLE, FaultKind.AUTH):
        assert 0.08 < kinds.count(kind) / 5000 < 0.12
    assert injector.counts()["throttled"] == kinds.count(FaultKind.THROTTLED)
    assert all(d.retry_after_s == 5 for d in draws(injector, 10))


@pytest.mark.parametrize(
    ("latency", "low", "high"),
    [
        (Latency(LatencyKind.FIXED, seconds=0.25), 0.25, 0.25),
        (Latency(LatencyKind.UNIFORM, low=0.1, high=0.2), 0.1, 0.2),
        (Latency(LatencyKind.LOGNORMAL, median=0.05, sigma=0.0), 0.05 - 1e-12, 0.05 + 1e-12),
        (Latency(), 0.0, 0.0),
    ],
)
def test_latency_distributions(latency: Latency, low: float, high: float) -> None:
    rng = random.Random(1)
    assert all(low <= latency.sample(rng) <= high for _ in range(200))


def test_lognormal_median_is_its_median() -> None:
    rng = random.Random(2)
    samples = sorted(Latency(LatencyKind.LOGNORMAL, median=0.02, sigma=0.8).sample(rng) for _ in range(4001))
    assert 0.018 < samples[2000] < 0.022


@pytest.mark.parametrize(
    "bad",
    [{"rate_429": 1.5}, {"rate_500": -0.1}, {"rate_429": 0.6, "rate_503": 0.6}, {"retry_after_s": -1},
     {"goaway_after_streams": 0}],
)
def test_invalid_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FaultSettings(**bad)  # type: ignore[arg-type]


def test_invalid_latency_is_refused() -> None:
    with pytest.raises(ValueError):
        Latency(LatencyKind.UNIFORM, low=0.2, high=0.1)
    with pytest.raises(ValueError):
        FaultInjector("apns").update(latency={"kind": "sometimes"})


def test_update_keeps_other_fields_and_clear_resets() -> None:
    injector = FaultInjector("apns")
    injector.update(rate_503=0.5, goaway_after_streams=100)
    settings = injector.update(retry_after_s=3)
    assert (settings.rate_503, settings.goaway_after_streams, settings.retry_after_s) == (0.5, 100, 3)
    assert injector.clear() == FaultSettings()


def test_expire_tokens_uses_the_injected_clock() -> None:
    now = [1000.0]
    injector = FaultInjector("oauth", now=lambda: now[0])
    assert not injector.token_expired(999.0)
    injector.expire_tokens()
    assert injector.token_expired(999.0)
    assert not injector.token_expired(1000.0)
    now[0] = 2000.0
    injector.clear()
    assert injector.token_expired(999.0)


def test_service_faults_snapshot_is_json_ready() -> None:
    faults = ServiceFaults(seed=5)
    assert set(faults) == {"oauth", "fcm", "apns", "webpush"} and len(faults) == 4
    faults.update("apns", rate_429=0.1, latency={"kind": "uniform", "low": 0.0, "high": 0.1})
    snapshot = json.loads(json.dumps(faults.snapshot()))
    assert snapshot["apns"]["rate_429"] == 0.1
    assert snapshot["apns"]["latency"] == {"kind": "uniform", "seconds": 0.0, "low": 0.0, "high": 0.1,
                                           "median": 0.0, "sigma": 0.0}
    assert snapshot["fcm"] == FaultSettings().to_dict()


def test_updates_from_many_threads_never_tear_settings() -> None:
    injector = FaultInjector("webpush")
    errors: list[BaseException] = []

    def flip(rate: float) -> None:
        try:
            for _ in range(500):
                injector.update(rate_500=rate, rate_503=rate)
                settings = injector.snapshot()
                assert settings.rate_500 == settings.rate_503
                injector.decide()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=flip, args=(r,)) for r in (0.1, 0.2, 0.3, 0.4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
