"""The broken-config drill (issue 9): every kind of bad file goes through the real command,
`python -m monitor validate FILE`, and must give exit 2 with the file and the place named, within a
bounded time and memory; and a running service that has a hostile file written over its config keeps
answering, counts the refused reload and still applies the next good edit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from monitor.cli import main
from tests.peers import free_port
from tests.targets import wait_for

HANG_KILL = 60.0
"""Seconds after which a `validate` child is killed (and its case fails)."""
MAX_WALL = 30.0
"""Seconds of wall time a child may take, interpreter start included. Only a guard against a hang
(today's code ran past 20 s on a billion-laughs file at 1.9 GB, still growing): a child costs ~2 s
of CPU to start, and wall time on a shared 2-core machine running three at a time beside other work
swings from 3 to 15 s. The CPU budget below is the real bound."""
MAX_EXTRA_CPU = 1.0
"""Seconds of CPU a broken file may cost (beyond the interpreter and imports, for a child): every
limit answers in well under a second, whatever the file claims to hold. Files that make the reader
go through most of MAX_VALUES real values have their own budget."""
MAX_RSS = 200 * 1024 * 1024
"""Peak resident memory of one `validate` child, bytes (the imports alone take ~100 MB)."""
WORKERS = 3  # children at once (the machine has 2 cores; a child waits on I/O part of its time)

GOOD_CHECK = "{name: a, component: c, kind: tcp, host: 127.0.0.1, port: 1}"


def alias_bomb(levels: int, width: int = 10, *, under: str = "") -> str:
    """`levels` anchors, each a list of `width` aliases to the previous: width**levels values."""
    lines = [f"{under}a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"{under}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def many_checks(n: int, *, broken_last: bool = False) -> str:
    lines = ["defaults: {interval: 30s, timeout: 10s}", "checks:"]
    for i in range(n):
        url = "http://bad host/" if broken_last and i == n - 1 else f"http://127.0.0.1:9/x{i}"
        lines.append(f"  - {{name: c{i:05d}, component: comp{i % 100}, kind: http, url: '{url}', "
                     f"labels: {{team: t{i % 7}}}}}")
    return "\n".join(lines) + "\n"


def huge_file(path: Path) -> None:
    """50 MB of plausible YAML: a config someone pasted a log or a dump into."""
    block = b"".join(b"  - {name: c%06d, component: x, kind: tcp, host: 127.0.0.1, port: 1}\n" % i
                     for i in range(10_000))
    with path.open("wb") as file:
        file.write(b"checks:\n")
        while file.tell() < 50 * 1024 * 1024:
            file.write(block)


@dataclass(frozen=True)
class Case:
    name: str
    content: str | bytes | Callable[[Path], None]
    expect: tuple[str, ...]  # substrings of the output: the place and what is wrong
    extra_cpu: float = MAX_EXTRA_CPU


CASES = [
    # wrong types, unknown keys, duplicates
    Case("wrong_type_port", "server: {port: http}\n", ("server.port:",)),
    Case("wrong_type_section", "server: localhost\n", ("server:",)),
    Case("checks_not_a_list", "checks: {a: 1}\n", ("checks:",)),
    Case("unknown_top_key", "servr: {port: 1}\n", (":1:1: servr: unknown key: did you mean `server`?",)),
    Case("unknown_check_key", f"checks:\n  - {GOOD_CHECK[:-1]}, intervall: 5s}}\n",
         (":2:66: checks[0] (c/a).intervall: unknown key: did you mean `interval`?",)),
    Case("unknown_kind", "checks: [{name: a, component: c, kind: nope}]\n",
         (":1:34: checks[0] (c/a).kind: 'nope' is not a kind of check: the kinds of check are dns, ",)),
    Case("type_for_kind", "checks: [{name: a, component: c, type: tcp}]\n",
         (":1:34: checks[0] (c/a).type: use `kind: tcp`, not `type: tcp`",)),
    Case("duplicate_key", "server: {port: 1}\nstorage: {}\nserver: {port: 2}\n",
         ("line 3, column 1:", "appears twice")),
    Case("duplicate_check_id", f"checks:\n  - {GOOD_CHECK}\n  - {GOOD_CHECK}\n", ("checks[1]", "already used")),
    Case("unhashable_key", "? [1, 2]\n: x\n", ("line 1, column 3:", "cannot be a mapping key")),
    Case("python_tag", "checks: !!python/object/apply:os.system [echo hi]\n",
         ("line 1, column 9:", "not supported")),
    Case("undefined_alias", "checks: *nothing\n", ("line 1, column 9:", "undefined alias")),
    Case("bad_merge", "server: {<<: 1, port: 1}\n", ("line 1, column 14:", "merge")),
    # aliases: bombs of several depths, billion laughs, a value that contains itself, too many
    Case("alias_bomb_4_walked", alias_bomb(4) + f"checks:\n  - {GOOD_CHECK[:-1]}, labels: {{x: *a3}}}}\n",
         ("checks[0] (c/a).labels.x:",)),
    Case("alias_bomb_6", alias_bomb(6), ("line 6, column", "more than 500,000 values")),
    Case("alias_bomb_7", alias_bomb(7), ("line 6, column", "more than 500,000 values")),
    Case("alias_bomb_9", alias_bomb(9), ("line 6, column", "more than 500,000 values")),
    Case("alias_bomb_30_wide_2", alias_bomb(30, 2), ("line 17, column 18:", "more than 500,000 values")),
    Case("billion_laughs", 'lol: &lol "lol"\n' + "".join(
        f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}" if i > 1 else "*lol"] * 10) + "]\n" for i in range(1, 10)
    ), ("line 7, column", "more than 500,000 values")),
    Case("recursive_alias", "checks: &c [*c]\n", ("line 1, column 13:", "contains itself")),
    Case("too_many_aliases", "a: &a 1\nb: [" + ", ".join(["*a"] * 100_001) + "]\n",
         ("line 2, column", "more than 100,000 aliases")),
    Case("too_many_values", "checks: [" + ",".join(str(i) for i in range(600_000)) + "]\n",
         ("line 1, column", "more than 500,000 values"), extra_cpu=4.0),
    # nesting
    Case("deep_lists_open", "[" * 20000, ("line 1, column",)),
    Case("deep_lists_closed", "[" * 100 + "]" * 100 + "\n", ("line 1, column 65:", "deeper than 64")),
    Case("deep_flow_mappings", "{a: " * 20000, ("line 1, column",)),
    Case("deep_block_mappings", "".join("  " * i + "a:\n" for i in range(100)) + "  " * 100 + "b: 1\n",
         ("line 65, column 129:", "deeper than 64")),
    Case("deep_via_aliases", "d0: &d0 " + "[" * 41 + "]" * 41 + "\nd1: " + "[" * 27 + "*d0" + "]" * 27 + "\n",
         ("line 2, column", "once alias *d0 is followed")),
    # bytes YAML or UTF-8 refuses
    Case("non_utf8", b"checks: []\nui: {title: caf\xe9}\n", ("line 2, column 16 (byte 26):", "not UTF-8")),
    Case("nul_byte", b"checks: []\nui: {title: \"a\x00b\"}\n", ("line 2, column 15:", "'\\x00' is not allowed")),
    Case("binary_garbage", bytes(range(256)) * 40, ("line 2, column 118 (byte 128):", "not UTF-8")),
    Case("tabs", "checks:\n\t- {name: a}\n", ("line 2, column 1:", "invalid YAML")),
    Case("document_stream", "checks: []\n---\nchecks: []\n", ("line 2, column 1:", "single document")),
    # the shape of the whole file
    Case("empty_file", "", ("line 1:", "no settings")),
    Case("only_comments", "# a config\n# with nothing in it\n", ("line 1:", "no settings")),
    Case("top_level_list", "- checks: []\n", ("(top level):", "not a list")),
    Case("top_level_scalar", "checks\n", ("(top level):", "not a string")),
    Case("huge_file", huge_file, ("(whole file):", "larger than the limit of 8 MiB")),
    Case("10000_checks_last_broken", many_checks(10_000, broken_last=True),
         ("checks[9999] (comp99/c09999).url:", "not a valid host name"), extra_cpu=6.0),
    # values
    Case("missing_variable", f"checks:\n  - {GOOD_CHECK[:-1]}, description: '${{PM_DRILL_UNSET}}'}}\n",
         (":2:66: checks[0] (c/a).description: environment variable PM_DRILL_UNSET is not set",)),
    Case("bad_duration", f"checks:\n  - {GOOD_CHECK[:-1]}, interval: 5 parsecs}}\n", ("checks[0] (c/a).interval:",)),
    Case("unitless_duration", f"checks:\n  - {GOOD_CHECK[:-1]}, interval: 90}}\n",
         (":2:66: checks[0] (c/a).interval: 90: a duration needs a unit: 90ms, 90s, 1m30s",)),
    Case("zero_interval", f"checks:\n  - {GOOD_CHECK[:-1]}, interval: 0s}}\n", ("checks[0] (c/a).interval:",)),
    Case("storage_url_unparsable", "storage: {url: 'not a url'}\n", ("storage.url:", "not a database URL")),
    Case("storage_url_unknown_dialect", "storage: {url: 'oracle://h/db'}\n", ("storage.url:", "not a supported")),
    Case("storage_url_driver_missing", "storage: {url: 'postgresql+psycopg2://u:pw-drill@h/db'}\n",
         ("storage.url:", "not installed", "pip install 'platform-monitor[postgres]'")),
    Case("timeout_over_interval", f"checks:\n  - {GOOD_CHECK[:-1]}, interval: 5s, timeout: 6s}}\n",
         ("checks[0] (c/a).timeout:", "longer than its interval 5s")),
    Case("timeout_over_interval_defaults", "defaults: {interval: 5s, timeout: 10s}\n",
         ("defaults.timeout:", "longer than defaults.interval 5s")),
    Case("host_with_space", "checks: [{name: a, component: c, kind: tcp, host: 'exa mple.com', port: 1}]\n",
         ("checks[0] (c/a).host:", "a space")),
    Case("url_host_with_space", "checks: [{name: a, component: c, kind: http, url: 'http://exa mple.com/'}]\n",
         ("checks[0] (c/a).url:", "a space")),
    Case("host_bad_label", "checks: [{name: a, component: c, kind: tls, host: '-x..example', port: 1}]\n",
         ("checks[0] (c/a).host:", "not a valid label")),
]


THROUGH_THE_CLI = {
    "alias_bomb_9", "billion_laughs", "deep_lists_open", "huge_file", "too_many_values", "non_utf8",
    "empty_file", "storage_url_driver_missing", "timeout_over_interval", "host_with_space",
}
"""Cases also run as a child process (`python -m monitor validate FILE`), for its exit code, wall time
and peak memory: each child costs ~2 s of interpreter start and imports on a loaded machine, so the
whole corpus runs in-process through the same `main()` and these ten as children."""


def write_case(case: Case, root: Path) -> Path:
    path = root / f"{case.name}.yaml"
    if callable(case.content):
        case.content(path)
    elif isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        path.write_text(case.content, encoding="utf-8")
    return path


def assert_refused(case: Case, path: Path, code: int, out: str) -> None:
    assert code == 2, f"exit {code}:\n{out[-2000:]}"
    assert "Traceback" not in out, out[-2000:]
    assert f"{path}: " in out, out[:2000]
    for expected in case.expect:
        assert expected in out, out[:2000]
    assert "pw-drill" not in out  # a storage URL's password is never echoed


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("configs")


def test_corpus_is_large_enough():
    assert len(CASES) >= 35 and len({c.name for c in CASES}) == len(CASES)
    assert {c.name for c in CASES} >= THROUGH_THE_CLI


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_broken_config_is_refused_with_its_place_in_bounded_time(case: Case, case_dir, capsys, monkeypatch):
    """The `validate` command's own code, in this process: exit 2, the file and the place named,
    and the CPU it took (no interpreter start here) within the case's budget."""
    for name in [k for k in os.environ if k.startswith("PM_")]:
        monkeypatch.delenv(name)
    path = write_case(case, case_dir)
    start = time.process_time()
    code = main(["validate", str(path)])
    cpu = time.process_time() - start
    captured = capsys.readouterr()
    assert_refused(case, path, code, captured.out + captured.err)
    assert cpu < case.extra_cpu, f"{cpu:.2f}s of CPU"


@dataclass
class Run:
    code: int
    out: str
    wall: float
    cpu: float
    rss: int  # bytes


RUSAGE_HELPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    out.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(code)
"""
"""Runs the command and writes its peak RSS (KiB) and CPU seconds. A child forked from pytest would
inherit pytest's own peak RSS in ru_maxrss (Linux folds the pre-exec memory in): forked from this
small helper instead, the figure is the command's own (plus at most the helper's ~10 MiB)."""


def run_validate(path: Path, env: dict[str, str]) -> Run:
    """`python -m monitor validate path` as a child, with its wall time, CPU time and peak RSS."""
    out_path, usage_path = path.with_suffix(".out"), path.with_suffix(".usage")
    with out_path.open("wb") as out:
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", RUSAGE_HELPER, str(usage_path), sys.executable, "-m", "monitor", "validate",
             str(path)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        try:
            code = proc.wait(timeout=HANG_KILL)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        wall = time.monotonic() - start
    text = out_path.read_text(errors="replace")
    rss_kib, cpu = usage_path.read_text().split() if usage_path.exists() else ("0", "inf")
    return Run(code, text, wall, float(cpu), int(rss_kib) * 1024)


@pytest.fixture(scope="module")
def children(case_dir) -> dict[str, tuple[Path, Run]]:
    """The THROUGH_THE_CLI cases (and a tiny good file, twice, for the baseline cost) as children,
    WORKERS at a time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PM_")}
    chosen = [c for c in CASES if c.name in THROUGH_THE_CLI]
    files = {c.name: write_case(c, case_dir) for c in [*chosen, Case("baseline_1", "checks: []\n", ()),
                                                         Case("baseline_2", "checks: []\n", ())]}
    with ThreadPoolExecutor(WORKERS) as pool:
        runs = dict(zip(files, pool.map(lambda p: run_validate(p, env), files.values()), strict=True))
    return {name: (files[name], run) for name, run in runs.items()}


@pytest.mark.parametrize("case", [c for c in CASES if c.name in THROUGH_THE_CLI], ids=lambda c: c.name)
def test_broken_config_through_the_cli_in_bounded_time_and_memory(case: Case, children):
    path, run = children[case.name]
    baselines = [children["baseline_1"][1], children["baseline_2"][1]]
    assert all(b.code == 0 for b in baselines), baselines
    baseline = min(b.cpu for b in baselines)
    assert_refused(case, path, run.code, run.out)
    assert run.wall < MAX_WALL, f"{run.wall:.1f}s wall"
    assert run.cpu - baseline < case.extra_cpu, f"{run.cpu - baseline:.2f}s CPU beyond the baseline {baseline:.2f}s"
    assert run.rss < MAX_RSS, f"peak RSS {run.rss / 2**20:.0f} MiB"


def test_a_valid_10000_check_config_validates_in_bounded_time_and_memory(tmp_path, children):
    """~1.2 s of CPU beyond start-up (today's code: ~5.5 s, most of it in the pure-Python YAML
    scanner) and ~150 MiB."""
    path = tmp_path / "big.yaml"
    path.write_text(many_checks(10_000))
    run = run_validate(path, dict(os.environ))
    baseline = min(children["baseline_1"][1].cpu, children["baseline_2"][1].cpu)
    assert run.code == 0, run.out[-2000:]
    assert f"{path}: OK (10000 checks in 100 components)" in run.out
    assert run.wall < MAX_WALL
    assert run.cpu - baseline < 3.0, f"{run.cpu - baseline:.2f}s CPU beyond the baseline {baseline:.2f}s"
    assert run.rss < MAX_RSS, f"peak RSS {run.rss / 2**20:.0f} MiB"


# -- the running service ---------------------------------------------------------------------


def service_config(db: Path, port: int, *extra_checks: str) -> str:
    checks = "".join(f"  - {c}\n" for c in ["{name: a, component: c, kind: tcp, host: 127.0.0.1, port: 9}",
                                             *extra_checks])
    return f"""server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{db}"}}
defaults: {{interval: 1s, timeout: 1s}}
checks:
{checks}"""


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


FAILURES = 'platform_monitor_config_reloads_total{outcome="failure"}'
LAST_OK = "platform_monitor_config_last_reload_successful"


def test_hostile_files_over_the_live_config_are_refused_and_the_next_good_edit_applies(tmp_path):
    """An alias bomb, then `[` x 20000, written over the config of a running `serve`: /healthz keeps
    answering within 0.5 s throughout, each refused reload is counted, the watcher goes on and the
    next valid edit (a new check) is applied."""
    port, db, path = free_port(), tmp_path / "pm.db", tmp_path / "config.yaml"
    path.write_text(service_config(db, port))
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "serve", "--config", str(path)],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    slowest = 0.0

    def healthz_for(seconds: float) -> None:
        """Poll /healthz for `seconds`, keeping the slowest answer."""
        nonlocal slowest
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.monotonic()
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            slowest = max(slowest, time.monotonic() - start)
            time.sleep(0.05)

    def metrics() -> str:
        return httpx.get(f"{base}/metrics", timeout=5).text

    try:
        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=60, what="service ready")
        assert metric(metrics(), FAILURES) == 0 and metric(metrics(), LAST_OK) == 1

        path.write_text(alias_bomb(9))  # 10^9 values once copied: hung the old service for good
        healthz_for(3.0)  # the watcher looks every 2 s
        wait_for(lambda: metric(metrics(), FAILURES) == 1, timeout=10, what="the alias bomb refused")
        assert metric(metrics(), LAST_OK) == 0

        path.write_text("[" * 20000)  # killed the old watcher with a RecursionError
        healthz_for(3.0)
        wait_for(lambda: metric(metrics(), FAILURES) == 2, timeout=10, what="the deep nesting refused")

        path.write_text(service_config(db, port, "{name: b, component: c, kind: tcp, host: 127.0.0.1, port: 9}"))
        wait_for(lambda: {c["id"] for c in httpx.get(f"{base}/api/v1/checks", timeout=5).json()} == {"c/a", "c/b"},
                 timeout=10, what="the next good edit applied")
        assert metric(metrics(), LAST_OK) == 1
        assert slowest < 0.5, f"/healthz took {slowest:.2f}s during a reload"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    out = (tmp_path / "serve.log").read_text(errors="replace")
    assert "config reload refused" in out and "more than 500,000 values" in out
    assert "line 1, column" in out  # the deep nesting, located
    assert "Traceback" not in out


def test_serve_with_a_bad_storage_url_exits_2_with_the_validate_message(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(f"server: {{host: 127.0.0.1, port: {free_port()}}}\n"
                    "storage: {url: 'postgresql+psycopg2://u:pw-drill@127.0.0.1/db'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PM_")}
    served = subprocess.run([sys.executable, "-m", "monitor", "serve", "--config", str(path)],
                            capture_output=True, text=True, timeout=60, env=env)
    validated = subprocess.run([sys.executable, "-m", "monitor", "validate", str(path)],
                               capture_output=True, text=True, timeout=60, env=env)
    assert served.returncode == 2 and validated.returncode == 2
    assert "Traceback" not in served.stderr
    assert served.stderr.strip() == validated.stderr.strip()
    assert f"{path}: 1 error\n  {path}:2:11: storage.url: " in served.stderr
    assert "pip install 'platform-monitor[postgres]'" in served.stderr and "pw-drill" not in served.stderr
