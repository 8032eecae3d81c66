"""The Processes page in Chromium: the UI suite's one process holds every shard and leads; the
warnings for shards without a live holder and for a process that is not acting render from an
answer crafted in the browser; the overview's summary line; and `ui.public_only` turns the page off."""

from __future__ import annotations

import json
import re
import time

import httpx
from playwright.sync_api import expect

from monitor.api import create_app
from monitor.config import parse_config
from tests.peers import free_port
from tests.targets import ServiceThread, wait_for

TIMEOUT_MS = 15_000
SHARDS = 128  # engine.shards' default: the UI suite's config does not set it
TO = "\N{EN DASH}"  # between the ends of a run of shards
PROBLEM = "the lease table cannot be read: <b>database</b> unreachable <img src=x onerror=window.__pwned=1>"


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + "Z"


def crafted(now: float, **changes) -> dict:
    """An answer with two live processes (alpha answers, holding shards 0-59; beta leads, holding
    61-119), shards 60 and 120-127 without a holder, and a problem; `changes` replace fields."""
    def replica(rid: str, *, shards: list[int], leader: bool, self: bool) -> dict:
        return {"id": rid, "host": f"host-{rid}", "pid": 4242 if self else 777, "started_at": iso(now - 3600),
                "last_renewal": iso(now - 42 if self else now - 3), "shards": len(shards),
                "checks": len(shards) * 2, "leader": leader, "version": "9.9.9", "self": self,
                "held_shards": shards if self else None}

    answer = {"replicas": [replica("alpha", shards=list(range(60)), leader=False, self=True),
                           replica("beta", shards=list(range(61, 120)), leader=True, self=False)],
              "shards": SHARDS, "unheld_shards": [60, *range(120, 128)], "observed_at": iso(now - 1),
              "problem": PROBLEM}
    return answer | changes


def route_replicas(page, answer: dict) -> None:
    """Make the page's /api/v1/replicas answer `answer`."""
    body = json.dumps(answer)
    page.route("**/api/v1/replicas", lambda route: route.fulfill(
        status=200, content_type="application/json", body=body))


def test_the_one_process_holds_every_shard_and_leads(ui_service, open_page):
    wait_for(lambda: ui_service.svc.json("/api/v1/replicas")["unheld_shards"] == [],
             what="a lease round after the one that claimed every shard")
    me = ui_service.svc.json("/api/v1/replicas")["replicas"][0]
    op = open_page()
    page = op.goto(ui_service.url + "/processes?refresh=1").page
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Processes")
    rows = page.locator("#processes tbody tr")
    expect(rows).to_have_count(1, timeout=TIMEOUT_MS)
    row = page.locator(f'#processes tr[data-process="{me["id"]}"]')
    expect(row.locator("td.shards")).to_have_text(str(SHARDS))
    expect(row.locator("td.shards")).to_have_attribute("title", f"holds shards 0{TO}{SHARDS - 1}")
    expect(row.locator("td.checks")).to_have_text(str(me["checks"]))
    expect(row.locator(".tag.leader")).to_have_text("leader")
    expect(row.locator(".tag.self")).to_have_text("this process")
    expect(row).to_contain_text(me["host"])
    expect(row).to_contain_text(str(me["pid"]))
    expect(row.locator("td.renewal")).to_have_text(re.compile(r"^\d+s ago$"))
    expect(row.locator("td.renewal")).to_have_attribute(  # the time in the browser's zone, named
        "title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d America/New_York$"))
    expect(page.locator("#processes-count")).to_have_text(f"1 process, all {SHARDS} shards held")
    expect(page.locator("#unheld")).to_be_hidden()
    expect(page.locator("#problem")).to_be_hidden()
    op.screenshot()

    overview = op.goto(ui_service.url + "/").page
    link = overview.locator("#processes-summary")
    expect(link).to_have_text(f"1 process, all {SHARDS} shards held", timeout=TIMEOUT_MS)
    expect(link).to_have_attribute("href", "/processes")
    op.assert_clean()


def test_unheld_shards_and_the_problem_are_warned_about(ui_service, open_page):
    op = open_page()
    route_replicas(op.page, crafted(time.time()))
    page = op.goto(ui_service.url + "/processes").page
    expect(page.locator("#processes tbody tr")).to_have_count(2, timeout=TIMEOUT_MS)
    unheld = page.locator("#unheld")
    expect(unheld).to_be_visible()
    expect(unheld).to_contain_text("9 shards have no live process: their checks are not probed")
    expect(unheld).to_contain_text(f"(shards 60, 120{TO}127)")
    problem = page.locator("#problem")
    expect(problem).to_be_visible()
    expect(problem).to_have_text(f"This process (alpha) is not acting on its shards: {PROBLEM}")  # as text
    assert problem.locator("b, img").count() == 0
    expect(page.locator("#processes-count")).to_have_text(f"2 processes, 119 of {SHARDS} shards held")
    alpha, beta = page.locator('tr[data-process="alpha"]'), page.locator('tr[data-process="beta"]')
    expect(alpha.locator(".tag.self")).to_have_count(1)
    expect(alpha.locator(".tag.leader")).to_have_count(0)
    expect(beta.locator(".tag.leader")).to_have_count(1)
    expect(beta.locator(".tag.self")).to_have_count(0)
    expect(alpha.locator("td.renewal")).to_have_text(re.compile(r"^4\ds ago$"))
    expect(beta.locator("td.shards")).to_have_text("59")
    op.screenshot()

    overview = op.goto(ui_service.url + "/").page
    link = overview.locator("#processes-summary")
    expect(link).to_have_text(f"2 processes, 119 of {SHARDS} shards held · 9 shards not probed · "
                              "this process is not acting", timeout=TIMEOUT_MS)
    expect(link).to_have_class(re.compile(r"\bwarn\b"))
    op.assert_clean()


def test_shards_the_answering_process_holds_are_not_warned_about(ui_service, open_page):
    """A process's first lease round reads the table before it claims: the answer lists every
    shard as unheld while the process holds them all. Those are held: no warning."""
    now = time.time()
    alone = crafted(now)["replicas"][0] | {"shards": SHARDS, "held_shards": list(range(SHARDS)), "leader": True}
    op = open_page()
    route_replicas(op.page, crafted(now, replicas=[alone], unheld_shards=list(range(SHARDS)), problem=None))
    page = op.goto(ui_service.url + "/processes").page
    expect(page.locator("#processes tbody tr")).to_have_count(1, timeout=TIMEOUT_MS)
    expect(page.locator("#processes-count")).to_have_text(f"1 process, all {SHARDS} shards held")
    expect(page.locator("#unheld")).to_be_hidden()
    expect(page.locator("#problem")).to_be_hidden()
    op.assert_clean()


def test_public_only_turns_the_processes_page_off(tmp_path):
    port = free_port()
    config = parse_config(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
ui: {{public_only: true}}
""")
    svc = ServiceThread(create_app(config), port).start()
    try:
        get = lambda path: httpx.get(svc.url + path, timeout=10, follow_redirects=False)  # noqa: E731
        assert get("/processes").status_code == 404
        assert get("/api/v1/replicas").status_code == 404
        assert get("/status").status_code == 200
    finally:
        svc.stop()
