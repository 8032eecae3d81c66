"""The failure limiter as a pure machine: the caller's clock, no server."""

from __future__ import annotations

from monitor.auth.limits import ACCOUNT_FAILURES, ADDRESS_FAILURES, FAILURE_WINDOW, FailureLimiter

WINDOW = FAILURE_WINDOW.total_seconds()


def test_an_account_is_refused_until_its_oldest_counted_failure_ages_out():
    limiter = FailureLimiter()
    for i in range(ACCOUNT_FAILURES):
        assert limiter.wait(account="alice", address="10.0.0.1", now=100.0 + i) == 0
        limiter.fail(account="alice", address="10.0.0.1", reason="bad_password", now=100.0 + i)
    assert limiter.wait(account="alice", address="10.0.0.2", now=110.0) == WINDOW - 10  # from any address
    assert limiter.wait(account="bob", address="10.0.0.1", now=110.0) == 0  # the address has room left
    assert limiter.wait(account="alice", address="10.0.0.1", now=100.0 + WINDOW + 0.5) == 0
    assert limiter.counts["bad_password"] == ACCOUNT_FAILURES


def test_an_address_is_refused_whatever_the_account_and_tokens_apart():
    limiter = FailureLimiter()
    for i in range(ADDRESS_FAILURES):
        limiter.fail(account=f"user-{i}", address="10.0.0.9", reason="unknown_user", now=50.0)
    assert limiter.wait(account="carol", address="10.0.0.9", now=60.0) == WINDOW - 10
    assert limiter.wait(account=None, address="10.0.0.9", now=60.0, kind="token") == 0  # tokens counted apart
    assert limiter.wait(account="carol", address="10.0.0.8", now=60.0) == 0


def test_a_success_clears_the_account_not_the_address():
    limiter = FailureLimiter()
    for _ in range(ACCOUNT_FAILURES - 1):
        limiter.fail(account="alice", address="10.0.0.1", reason="bad_password", now=1.0)
    limiter.succeed(account="alice")
    limiter.fail(account="alice", address="10.0.0.1", reason="bad_password", now=2.0)
    assert limiter.wait(account="alice", address="10.0.0.1", now=3.0) == 0
