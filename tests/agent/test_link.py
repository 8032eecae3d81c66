"""The link's reading of the centre's answers and its waits, against the centre double; and the
report of discovered checks (redacted, retried until taken)."""

from __future__ import annotations

import asyncio
import email.utils
import time

from monitor.agent.discovered import DiscoveredReporter
from monitor.agent.link import UNAUTHORIZED_RETRY, Answer, Backoff, Link, Outcome, delay_after
from probes import PROBES
from tests.agent.centre import Centre
from tests.agent.conftest import TOKEN


def test_backoff_doubles_to_30s_and_starts_over_after_a_success():
    backoff = Backoff()
    assert [backoff.next() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert backoff.next() == 1


def test_the_wait_after_each_failure():
    def answer(outcome: Outcome, retry_after: float | None = None) -> Answer:
        return Answer(outcome, None, "", 0.0, 0.0, retry_after=retry_after)

    backoff = Backoff()
    assert delay_after(answer(Outcome.UNREACHABLE), backoff) == 1
    assert delay_after(answer(Outcome.UNAVAILABLE), backoff) == 2
    assert delay_after(answer(Outcome.UNAUTHORIZED), backoff) == UNAUTHORIZED_RETRY == 10
    assert delay_after(answer(Outcome.THROTTLED, retry_after=7.0), backoff) == 7
    assert delay_after(answer(Outcome.THROTTLED), backoff) == 4  # no Retry-After: the backoff's


async def test_answers_as_the_agent_reads_them():
    centre = Centre(token=TOKEN, checks=[]).start()
    link = Link(centre.url, TOKEN)
    batch = {"sent_at": time.time(), "results": [{"check": "t/a", "time": 1.0, "status": "up"}]}
    try:
        first = await link.fetch(None, 0)
        assert first.outcome is Outcome.OK and first.etag == centre.version and first.server_time
        assert (await link.fetch(centre.version, 0.2)).outcome is Outcome.NOT_MODIFIED
        assert (await link.push(batch)).outcome is Outcome.OK
        centre.refuse = {"t/a"}
        refused = await link.push(batch)
        assert refused.outcome is Outcome.REFUSED and refused.body["refused"] == ["t/a"]
        centre.answer = 429  # the double sends Retry-After: 1
        throttled = await link.push(batch)
        assert throttled.outcome is Outcome.THROTTLED and throttled.retry_after == 1.0
        centre.answer = 503
        assert (await link.push(batch)).outcome is Outcome.UNAVAILABLE
        centre.answer = None
        centre.max_results = 0
        assert (await link.push(batch)).outcome is Outcome.TOO_LARGE
        wrong = Link(centre.url, "not-the-token-00000000")
        unauthorized = await wrong.push(batch)
        await wrong.aclose()
        assert unauthorized.outcome is Outcome.UNAUTHORIZED and unauthorized.reason == "401 Unauthorized: unauthorized"
    finally:
        await link.aclose()
        centre.stop()
    gone = Link(centre.url, TOKEN)
    unreachable = await gone.push(batch)
    await gone.aclose()
    assert unreachable.outcome is Outcome.UNREACHABLE and unreachable.status is None
    assert unreachable.reason.startswith("ConnectError")


def test_retry_after_as_an_http_date():
    from monitor.agent.link import _retry_after

    assert _retry_after("3") == 3.0
    assert 8 < _retry_after(email.utils.formatdate(time.time() + 10, usegmt=True)) <= 10
    assert _retry_after("86400") == 300.0  # capped
    assert _retry_after("soon") is None


async def test_discovered_checks_reach_the_centre_redacted():
    centre = Centre(token=TOKEN, checks=[]).start()
    link = Link(centre.url, TOKEN)
    ran: dict[str, list] = {}
    reporter = DiscoveredReporter(link=link, run=lambda source, checks: ran.__setitem__(source, checks),
                                  secrets=lambda: {})
    check = PROBES["http"].model.model_validate({
        "name": "node-1", "component": "prod-a/nodes", "kind": "http", "url": "https://10.0.0.1:10250/healthz",
        "headers": {"Authorization": "Bearer node-secret-token-123"}, "interval": "30s"})
    try:
        await reporter.start()
        reporter.publish("cluster:prod-a:nodes", [check])
        reporter.publish("somewhere-else", [check])  # 403: not retried
        assert ran["cluster:prod-a:nodes"] == [check]  # the engine runs it at once
        for _ in range(100):
            if centre.recorded.discovered:
                break
            await asyncio.sleep(0.05)
        sent = centre.recorded.discovered["cluster:prod-a:nodes"]
        assert sent[0]["name"] == "node-1" and sent[0]["interval"] == "30s"
        assert "node-secret-token-123" not in str(sent)
    finally:
        await reporter.stop()
        await link.aclose()
        centre.stop()
