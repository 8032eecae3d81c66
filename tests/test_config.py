"""Config loading: the public contract, defaults, ${VAR} expansion, and errors that name their
place without printing secrets."""

from __future__ import annotations

import pytest

from monitor.cli import main
from monitor.config import AnyCheck, ConfigError, parse_config
from probes import CONFIGURABLE, PROBES

GOOD = """
server:   {host: 127.0.0.1, port: 8080}
storage:  {url: "sqlite:///platform-monitor.db"}
defaults: {interval: 30s, timeout: 10s, failure_threshold: 2, success_threshold: 1}
checks:
  - name: paas-health
    component: paas
    kind: http
    url: https://paas.example.com/healthz
    interval: 15s
    headers: {Authorization: "Bearer ${PAAS_TOKEN}"}
    expect: {status: [200], max_latency: 800ms}
  - name: api-port
    component: paas
    kind: tcp
    host: 127.0.0.1
    port: 443
    failure_threshold: 5
"""


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml", env or {})
    return info.value.errors


def test_issue_example_loads_with_defaults_and_env():
    config = parse_config(GOOD, env={"PAAS_TOKEN": "s3cr3t-token"})
    http, tcp = config.checks
    assert http.id == "paas/paas-health"
    assert http.interval == 15.0 and http.timeout == 10.0
    assert http.headers["Authorization"] == "Bearer s3cr3t-token"
    assert http.expect.max_latency == 0.8
    assert tcp.interval == 30.0 and tcp.failure_threshold == 5 and tcp.success_threshold == 1
    assert config.secret_values == {"s3cr3t-token": "${PAAS_TOKEN}"}


def test_registry_kinds_equal_config_union_kinds():
    union_kinds = {m.model_fields["kind"].default for m in AnyCheck.__origin__.__args__}
    assert union_kinds == set(CONFIGURABLE) == set(PROBES) - {"agent"}
    assert {"http", "tcp", "dns", "tls"} <= set(PROBES)


def test_missing_variable_is_named_with_its_place():
    assert errors_of(GOOD) == [
        "checks[0] (paas/paas-health).headers.Authorization: environment variable PAAS_TOKEN is not set"]


def test_variable_default_and_dollar_escape():
    text = GOOD.replace("${PAAS_TOKEN}", "${PAAS_TOKEN:-anon}$$x")
    config = parse_config(text, env={})
    assert config.checks[0].headers["Authorization"] == "Bearer anon$x"


def test_unknown_keys_are_rejected_with_their_place():
    text = GOOD.replace("interval: 15s", "interval: 15s\n    intervall: 20s")
    errs = errors_of(text, {"PAAS_TOKEN": "x"})
    assert len(errs) == 1
    assert errs[0].startswith("checks[0] (paas/paas-health).intervall: ")
    assert errs[0].endswith(": unknown key: did you mean `interval`?")


def test_every_error_is_reported_at_once():
    text = GOOD.replace("status: [200]", "status: [abc]").replace("port: 443", "port: 70000")
    errs = errors_of(text, {"PAAS_TOKEN": "x"})
    places = sorted(e.split(":")[0] for e in errs)
    assert places == ["checks[0] (paas/paas-health).expect.status[0]", "checks[1] (paas/api-port).port"]


def test_bad_duration_unknown_kind_and_duplicate_ids():
    errs = errors_of("checks:\n  - {name: a, component: c, kind: http, url: 'http://x', interval: soon}\n")
    assert errs == ["checks[0] (c/a).interval: 'soon' is not a duration (use e.g. 500ms, 30s, 5m, 1m30s, 1h or 1d)"]
    errs = errors_of("checks:\n  - {name: a, component: c, kind: smtp}\n")
    assert errs[0].startswith("checks[0] (c/a).kind: 'smtp' is not a kind of check: the kinds of check are dns, ")
    errs = errors_of(
        "checks:\n  - {name: a, component: c, kind: tcp, host: h, port: 1}\n"
        "  - {name: a, component: c, kind: tcp, host: h, port: 2}\n"
    )
    assert "checks[1]: id 'c/a' is already used by checks[0]" in errs[0]


def test_yaml_syntax_error_names_line():
    errs = errors_of("checks:\n  - name: [unclosed\n")
    assert errs[0].startswith("line 3, column 1: invalid YAML")


def test_errors_never_echo_secret_values():
    text = GOOD.replace("port: 443", 'port: "${DB_PASSWORD}"')
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml", {"PAAS_TOKEN": "x", "DB_PASSWORD": "hunter2hunter2"})
    assert "hunter2hunter2" not in info.value.render()


def test_validate_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PAAS_TOKEN", "t0ken-value")
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert main(["validate", str(good)]) == 0
    assert "OK (2 checks in 1 components)" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("kind: tcp", "kind: tcp\n    colour: red"))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: 1 error" in err and "checks[1] (paas/api-port).colour" in err
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_a_key_given_twice_is_an_error():
    errs = errors_of("checks:\n  - name: a\n    component: c\n    name: b\n    kind: tcp\n")
    assert errs == ["line 4, column 5: invalid YAML: key 'name' appears twice in one mapping (first on line 2)"]


def test_aliased_settings_are_expanded_once_and_reach_every_place_that_uses_them():
    """An anchor used by many checks: `${VAR}` reaches each of them, and the file is read as
    `yaml.safe_load` would read it (merge keys included: the mapping's own keys win, then the
    earlier merge source, as the YAML merge spec says)."""
    config = parse_config("""
checks:
  - {<<: [&base {component: paas, kind: http, interval: 15s, timeout: 5s}, {interval: 1m}],
     name: a, url: "https://a.example.com/", headers: &auth {Authorization: "Bearer ${PAAS_TOKEN}"}}
  - {<<: *base, name: b, url: "https://b.example.com/", headers: *auth, interval: 20s}
""", env={"PAAS_TOKEN": "tok-123456"})
    a, b = config.checks
    assert a.headers == b.headers == {"Authorization": "Bearer tok-123456"}
    assert (a.component, a.kind, a.interval, a.timeout) == ("paas", "http", 15.0, 5.0)
    assert (b.interval, b.timeout) == (20.0, 5.0)


@pytest.mark.parametrize(("text", "error"), [
    ("", "line 1: the file holds no settings (it is empty or only comments); "
         "write `{}` to run with the built-in defaults and no checks"),
    ("{}\n---\n{}\n", "line 2, column 1: invalid YAML: expected a single document in the stream, "
                      "but found another document (a `---` line starts a second one)"),
    ("a: &a [*a]\n", "line 1, column 8: alias *a is inside the value it names: a structure that contains itself "
                     "has no end"),
    ("[" * 65 + "]" * 65, "line 1, column 65: lists and mappings nest deeper than 64 levels"),
    ("defaults: {interval: 1s, timeout: 2s}\n",
     "defaults.timeout: 2s is longer than defaults.interval 1s (a timeout must not exceed the interval)"),
])
def test_refused_documents_name_their_place(text, error):
    assert errors_of(text) == [error]


def test_limits_leave_room_for_a_large_real_config():
    from monitor.config_yaml import MAX_ALIASES, MAX_CONFIG_BYTES, MAX_DEPTH, MAX_VALUES

    # a 10,000-check config: ~1.2 MB, ~150,000 values, one alias a check at most, ~8 levels
    assert MAX_CONFIG_BYTES >= 4 * 1_200_000 and MAX_VALUES >= 3 * 150_000
    assert MAX_ALIASES >= 10 * 10_000 and MAX_DEPTH >= 8 * 8
