"""CronJob checks against the fake apiserver, through kr8s and httpx as in production: found by name
and by label selector, retired when the CronJob goes; down for a failed last Job (its condition's
reason and the failed container's exit), a Job running too long, a last success too old (max_age,
or two schedule periods in the CronJob's time zone); degraded when suspended."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from probes.base import Status
from probes.k8s_cronjob import Schedule
from probes.kube import parse_time
from tests.k8s.conftest import cluster_config
from tests.k8s.fake_objects import cronjob_object, job_object, job_pod

JOBS = "prod-a/jobs"
HOUR = 3600.0
SELECTED = [{"namespace": "ops", "name": "etcd-backup", "max_age": "26h"}, {"namespace": "ops", "selector": "team=dba"}]


def shown(value: str, zone: str = "UTC") -> str:
    return parse_time(value).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def dba(name: str, schedule: str, **kw) -> dict:
    return cronjob_object(name, "ops", schedule, labels={"team": "dba"}, **kw)


async def test_cronjob_reasons(apiserver, harness_factory):
    state = apiserver.state
    etcd = cronjob_object("etcd-backup", "ops", "0 2 * * *", time_zone="Asia/Shanghai", last_success_ago=27 * HOUR,
                          last_schedule_ago=27 * HOUR + 300)
    mysql = dba("mysql-dump", "30 1 * * *", last_success_ago=25 * HOUR, last_schedule_ago=HOUR)
    mysql_ok = job_object(mysql, "mysql-dump-29417850", outcome="Complete", started_ago=25 * HOUR + 120)
    mysql_failed = job_object(mysql, "mysql-dump-29419290", outcome="Failed", started_ago=HOUR)
    pg = dba("pg-dump", "0 */6 * * *", suspend=True, last_success_ago=2 * HOUR)
    redis = dba("redis-dump", "*/5 * * * *", last_success_ago=25 * 60, active=["redis-dump-29419300"])
    redis_job = job_object(redis, "redis-dump-29419300", outcome="Running", started_ago=20 * 60)
    binlog = dba("binlog-rotate", "0 * * * *", time_zone="Asia/Shanghai", last_success_ago=3 * HOUR + 60)
    vacuum = dba("vacuum", "0 * * * *", last_success_ago=30 * 60)
    vacuum_job = job_object(vacuum, "vacuum-29419320", outcome="Complete", started_ago=31 * 60)
    report = dba("report", "15 3 * * *", last_success_ago=2 * 86400)
    report_job = job_object(report, "report-29418135", outcome="Failed", started_ago=HOUR, reason="DeadlineExceeded")
    other = cronjob_object("cleanup", "ops", "0 4 * * *", labels={"team": "web"})
    state.put(etcd, mysql, mysql_ok, mysql_failed, job_pod(mysql_failed, "7xk2p"), pg, redis, redis_job, binlog,
              vacuum, vacuum_job, report, report_job, other)

    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), interval="1s", cronjobs=SELECTED))
    ids = await h.wait_checks(lambda ids: f"{JOBS}/ops.vacuum" in ids)
    assert sorted(i for i in ids if i.startswith(JOBS)) == [
        f"{JOBS}/ops.{n}" for n in ("binlog-rotate", "etcd-backup", "mysql-dump", "pg-dump", "redis-dump", "report",
                                    "vacuum")]
    assert h.engine.checks[f"{JOBS}/ops.vacuum"].depends_on == ["prod-a/control-plane/apiserver-livez"]
    results = await h.run(sorted(i for i in ids if i.startswith(JOBS)))
    r = {cid.rsplit("/", 1)[1].removeprefix("ops."): res for cid, res in results.items()}

    assert r["etcd-backup"].status == Status.DOWN
    success = shown(etcd["status"]["lastSuccessfulTime"], "Asia/Shanghai")
    assert r["etcd-backup"].reason == f"last success {success} (1d3h ago; max_age 26h)"
    assert success.endswith(" CST")
    assert r["mysql-dump"].status == Status.DOWN
    assert r["mysql-dump"].reason == ("job mysql-dump-29419290 failed: BackoffLimitExceeded "
                                      "(container backup: OOMKilled, exit 137)")
    assert r["report"].reason == ("job report-29418135 failed: DeadlineExceeded: "
                                  "Job was active longer than specified deadline")
    assert r["pg-dump"].status == Status.DEGRADED and r["pg-dump"].reason == "suspended (last success 2h ago)"
    assert r["redis-dump"].status == Status.DOWN
    assert r["redis-dump"].reason == "job redis-dump-29419300 running for 20m (max_runtime one schedule period, 5m)"
    assert r["binlog-rotate"].status == Status.DOWN
    assert r["binlog-rotate"].reason.startswith(
        f"last success {shown(binlog['status']['lastSuccessfulTime'], 'Asia/Shanghai')} (3h1m ago); "
        "two scheduled runs since, the last due ")
    assert r["vacuum"].status == Status.UP and r["vacuum"].reason == "last success 30m ago"
    assert r["vacuum"].details["jobs"] == {"vacuum-29419320": "Complete"}

    # the next run succeeds: the failure is history, the check is up again
    state.put(dba("mysql-dump", "30 1 * * *", last_success_ago=600, last_schedule_ago=900),
              job_object(mysql, "mysql-dump-29419300", outcome="Complete", started_ago=900, took=300))
    await _next_interval()
    again = (await h.run([f"{JOBS}/ops.mysql-dump"]))[f"{JOBS}/ops.mysql-dump"]
    assert again.status == Status.UP and again.reason == "last success 10m ago"


async def test_max_runtime_setting_and_never_succeeded(apiserver, harness_factory):
    state = apiserver.state
    sync = cronjob_object("data-sync", "ops", "0 */4 * * *", created_ago=9 * HOUR)
    fresh = cronjob_object("new-job", "ops", "0 0 * * 0", created_ago=HOUR)
    state.put(sync, fresh, job_object(sync, "data-sync-1", outcome="Running", started_ago=40 * 60))
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), interval="1s", cronjobs=[
        {"namespace": "ops", "name": "data-sync", "max_runtime": "30m"}, {"namespace": "ops", "name": "new-job"}]))
    await h.wait_checks(lambda ids: f"{JOBS}/ops.new-job" in ids)
    results = await h.run([f"{JOBS}/ops.data-sync", f"{JOBS}/ops.new-job"])
    assert results[f"{JOBS}/ops.data-sync"].reason == "job data-sync-1 running for 40m (max_runtime 30m)"
    assert results[f"{JOBS}/ops.new-job"].status == Status.UP
    assert results[f"{JOBS}/ops.new-job"].reason == "no successful run yet"

    state.put(cronjob_object("data-sync", "ops", "0 */4 * * *", created_ago=9 * HOUR))
    state.objects[("batch/v1", "jobs")] = []
    await _next_interval()
    stale = (await h.run([f"{JOBS}/ops.data-sync"]))[f"{JOBS}/ops.data-sync"]
    assert stale.status == Status.DOWN
    assert stale.reason.startswith("no successful run since creation ")


async def test_discovered_and_retired(apiserver, harness_factory):
    state = apiserver.state
    state.put(dba("mysql-dump", "30 1 * * *"))
    h = await harness_factory(cluster_config(apiserver.write_kubeconfig(), interval="1s", cronjobs=SELECTED))
    await h.wait_checks(lambda ids: f"{JOBS}/ops.mysql-dump" in ids)
    assert f"{JOBS}/ops.etcd-backup" not in h.engine.checks  # named, but not there (yet)
    state.put(cronjob_object("etcd-backup", "ops", "0 2 * * *"), dba("pg-dump", "0 3 * * *"))
    state.delete(state.objects[("batch/v1", "cronjobs")][0])
    await h.wait_checks(lambda ids: {f"{JOBS}/ops.etcd-backup", f"{JOBS}/ops.pg-dump"} <= ids
                        and f"{JOBS}/ops.mysql-dump" not in ids)


async def test_unreachable_and_forbidden_are_unknown(apiserver, harness_factory):
    apiserver.state.put(dba("mysql-dump", "30 1 * * *", last_success_ago=HOUR))
    kubeconfig = apiserver.write_kubeconfig()
    h = await harness_factory(cluster_config(kubeconfig, cronjobs=SELECTED))
    await h.wait_checks(lambda ids: f"{JOBS}/ops.mysql-dump" in ids)
    found = h.engine.discovered["cluster:prod-a:jobs"]

    apiserver.state.forbidden = {"/apis/batch/v1/namespaces/ops/jobs"}
    fresh = await harness_factory(cluster_config(kubeconfig, cronjobs=SELECTED), discover=False)
    fresh.engine.set_discovered("cluster:prod-a:jobs", found)
    forbidden = (await fresh.run([f"{JOBS}/ops.mysql-dump"]))[f"{JOBS}/ops.mysql-dump"]
    assert forbidden.status == Status.UNKNOWN
    assert forbidden.reason.startswith("misconfigured: forbidden (403): forbidden: User ")

    # a named CronJob whose LIST is forbidden from the start still gets its check, to say so
    apiserver.state.forbidden = {"/apis/batch/v1/namespaces/ops/cronjobs"}
    denied = await harness_factory(cluster_config(kubeconfig, cronjobs=SELECTED))
    await denied.wait_checks(lambda ids: f"{JOBS}/ops.etcd-backup" in ids)
    result = (await denied.run([f"{JOBS}/ops.etcd-backup"]))[f"{JOBS}/ops.etcd-backup"]
    assert result.status == Status.UNKNOWN and result.reason.startswith("misconfigured: forbidden (403)")
    assert f"{JOBS}/ops.mysql-dump" not in denied.engine.checks  # a selector has nothing to show

    apiserver.stop()
    gone = await harness_factory(cluster_config(kubeconfig, cronjobs=SELECTED), discover=False)
    gone.engine.set_discovered("cluster:prod-a:jobs", found)
    result = (await gone.run([f"{JOBS}/ops.mysql-dump"]))[f"{JOBS}/ops.mysql-dump"]
    assert result.status == Status.UNKNOWN and result.reason == "apiserver unreachable: connection refused"


def test_schedule_period_in_the_cronjob_time_zone():
    # 02:00 does not exist in New York on 2026-03-08 (DST starts): cron runs at 03:00, then 02:00 again
    schedule = Schedule.parse("0 2 * * *", "America/New_York")
    start = datetime(2026, 3, 7, 12, 0, tzinfo=ZoneInfo("UTC"))
    assert [t.strftime("%m-%d %H:%M %Z") for t in schedule.after(start, 2)] == ["03-08 03:00 EDT", "03-09 02:00 EDT"]
    assert schedule.period_at(start) == 23 * HOUR
    assert Schedule.parse("@hourly", None).period_at(start) == HOUR
    assert Schedule.parse("CRON_TZ=Asia/Shanghai 0 2 * * *", None).tz == ZoneInfo("Asia/Shanghai")
    assert Schedule.parse("@every 1h30m", None).period_at(start) == 1.5 * HOUR
    weekdays = Schedule.parse("0 2 * * 1-5", "UTC")  # Friday's run: the next two are Monday and Tuesday
    friday = datetime(2026, 12, 4, 2, 5, tzinfo=ZoneInfo("UTC"))
    assert [t.strftime("%a") for t in weekdays.after(friday, 2)] == ["Mon", "Tue"]


async def _next_interval() -> None:
    """Let the shared LISTs (fresh for 0.9 of the 1 s interval) expire."""
    await asyncio.sleep(1.0)
