"""Check ids hold `/`, and `/api/v1/checks/{id}` has sub-resources (`/results`, `/history`,
`/daily`): each URL reaches its own route whatever order the routers are included in (the
`check_id` path convertor, monitor.api.ids), the whole service under uvicorn in both orders."""

from __future__ import annotations

import re

import pytest

from monitor.api import checks, create_app, history
from monitor.api.ids import CheckIdConvertor
from monitor.config import parse_config
from tests.peers import free_port
from tests.targets import HttpTarget, ServiceThread, wait_for


def _route_of(regex: str, path: str) -> str | None:
    m = re.fullmatch(regex.replace("ID", f"(?P<id>{CheckIdConvertor.regex})"), path)
    return m and m.group("id")


def test_a_check_id_never_swallows_a_sub_resource():
    assert _route_of("/checks/ID", "/checks/cluster-a/control-plane/apiserver") == "cluster-a/control-plane/apiserver"
    for sub in ("results", "history", "daily"):
        assert _route_of("/checks/ID", f"/checks/paas/api/{sub}") is None
        assert _route_of(f"/checks/ID/{sub}", f"/checks/paas/api/{sub}") == "paas/api"
        assert _route_of(f"/checks/ID/{sub}", f"/checks/a/b/c/{sub}") == "a/b/c"
    # a segment that only starts like a sub-resource, or one inside the id, is part of the id
    assert _route_of("/checks/ID", "/checks/paas/history-db") == "paas/history-db"
    assert _route_of("/checks/ID/results", "/checks/paas/results/x/results") == "paas/results/x"


@pytest.mark.parametrize("history_first", [True, False])
def test_check_sub_resources_answer_in_either_router_order(tmp_path, history_first):
    target = HttpTarget()
    port = free_port()
    app = create_app(parse_config(f"""
server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{tmp_path / 'pm.db'}", flush_interval: 100ms}}
defaults: {{interval: 200ms, timeout: 200ms}}
checks:
  - {{name: api, component: paas, kind: http, url: "{target.url}/api"}}
"""))
    routes = app.router.routes
    included = {id(r.original_router): r for r in routes if hasattr(r, "original_router")}
    slots = sorted(routes.index(included[id(router)]) for router in (history.router, checks.router))
    order = (history.router, checks.router) if history_first else (checks.router, history.router)
    for slot, router in zip(slots, [included[id(r)] for r in order], strict=True):
        routes[slot] = router
    assert [r for r in routes if r in included.values()].index(included[id(order[0])]) < \
        [r for r in routes if r in included.values()].index(included[id(order[1])])
    svc = ServiceThread(app, port).start()
    try:
        wait_for(lambda: svc.json("/api/v1/checks/paas/api/results"), what="a stored result")
        detail = svc.json("/api/v1/checks/paas/api")
        assert detail["id"] == "paas/api" and "settings" in detail
        assert svc.json("/api/v1/checks/paas/api/results")[0]["status"] == "up"
        assert svc.json("/api/v1/checks/paas/api/history")["check_id"] == "paas/api"
        daily = svc.json("/api/v1/checks/paas/api/daily?days=3")
        assert daily["check_id"] == "paas/api" and len(daily["day_starts"]) == 3
        assert svc.get("/api/v1/checks/paas/nope/history").status_code == 404
        assert svc.get("/api/v1/checks/paas/nope").json()["detail"] == "no check with id 'paas/nope'"
        page = svc.get("/checks/paas/api")
        assert page.status_code == 200 and 'data-check="paas/api"' in page.text
    finally:
        svc.stop()
        target.close()
