"""Login failures: a sliding window per account and per client address, and the counts by reason
(`platform_monitor_auth_failures_total{reason}`). Pure: the caller gives the time; no I/O."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import timedelta

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

FAILURE_WINDOW = timedelta(minutes=15)
"""Failures older than this no longer count against an account or an address."""
ACCOUNT_FAILURES = 5
"""Failures within the window after which an account is refused: a person mistyping gets five
tries; a guesser gets 20 a hour, useless against any real password."""
ADDRESS_FAILURES = 20
"""Failures within the window after which an address is refused (it may front several people)."""
MAX_KEYS = 10_000  # remembered accounts and addresses at most: a flood of made-up names cannot fill memory
REASONS = ("bad_password", "unknown_user", "bad_token", "rate_limited", "csrf", "oidc")


class FailureLimiter:
    """`wait(account, address, now)`: seconds until another try is allowed (0: now). `kind`
    keeps sign-ins (`login`) and bearer tokens (`token`) apart: a flood of wrong passwords from a
    shared address does not lock its scrapers' tokens out, nor the reverse."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self.counts: dict[str, int] = dict.fromkeys(REASONS, 0)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        edge = now - FAILURE_WINDOW.total_seconds()
        while times and times[0] <= edge:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def wait(self, *, account: str | None, address: str, now: float, kind: str = "login") -> float:
        waits = [0.0]
        for key, limit in ((f"{kind}:{address}", ADDRESS_FAILURES), (f"u:{account}", ACCOUNT_FAILURES)):
            if key == "u:None":
                continue
            times = self._recent(key, now)
            if len(times) >= limit:
                waits.append(times[-limit] + FAILURE_WINDOW.total_seconds() - now)
        return max(waits)

    def fail(self, *, account: str | None, address: str, reason: str, now: float, kind: str = "login") -> None:
        self.counted(reason)
        keys = [f"{kind}:{address}"] + ([f"u:{account}"] if account is not None else [])
        if len(self._failures) > MAX_KEYS:
            self._failures.clear()  # forget everything rather than grow without bound
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def counted(self, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1

    def succeed(self, *, account: str) -> None:
        self._failures.pop(f"u:{account}", None)


class AuthFailureCollector(Collector):
    """`platform_monitor_auth_failures_total{reason}` over a limiter's counts."""

    def __init__(self, limiter: FailureLimiter) -> None:
        self.limiter = limiter

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("platform_monitor_auth_failures",
                                     "Refused sign-ins and credentials by reason: bad_password, unknown_user, "
                                     "bad_token, rate_limited, csrf, oidc.", labels=["reason"])
        for reason, count in sorted(self.limiter.counts.items()):
            family.add_metric([reason], count)
        yield family
