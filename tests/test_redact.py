"""What the API and the database may show of a check's settings."""

from __future__ import annotations

from monitor.config import parse_config
from monitor.redact import REDACTED, redact_settings

CONFIG = """
checks:
  - name: api
    component: paas
    kind: http
    url: "https://robot:${PW}@paas.example.com/health?access_token=${TOKEN}&region=eu"
    headers: {Authorization: "Bearer ${TOKEN}", X-Trace: "on"}
"""


def test_secrets_are_redacted_everywhere():
    config = parse_config(CONFIG, env={"PW": "pa55word!", "TOKEN": "tok-123456"})
    settings = redact_settings(config.checks[0], config.secret_values)
    text = repr(settings)
    assert "pa55word!" not in text and "tok-123456" not in text
    assert settings["headers"] == {"Authorization": REDACTED, "X-Trace": REDACTED}
    assert settings["url"].startswith("https://robot:<redacted>@paas.example.com/health?")
    assert "region=eu" in settings["url"]
    assert settings["name"] == "api" and settings["interval"] == "30s"


# --- run-time redaction: results, config errors, logs ---------------------------------------------

import logging  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402

from monitor.config import ConfigError  # noqa: E402
from monitor.redact import RedactingFilter, Redactor, model_secrets  # noqa: E402
from monitor.runner import Runner  # noqa: E402
from monitor.state import StateMachine  # noqa: E402
from probes import PROBES, http  # noqa: E402
from probes.base import ProbeContext  # noqa: E402


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("GET http://robot:hunter2@h/x", "GET http://robot:<redacted>@h/x"),
        ("url: https://h/x?token=abc&region=eu&access_token=zz",
         "url: https://h/x?token=<redacted>&region=eu&access_token=<redacted>"),
        ("JSONPath `h` = {'Authorization': 'Bearer flowtok-1'} (expected 1)",
         "JSONPath `h` = {'Authorization': '<redacted>'} (expected 1)"),
        ('{"password": "p\\"w", "user": "x"}', '{"password": "<redacted>", "user": "x"}'),
        ("denied: Basic cm9ib3Q6aHVudGVyMg==", "denied: Basic <redacted>"),
        ("echo: bearer abc.def-ghi", "echo: bearer <redacted>"),
        ("Authorization: tok123 X-Api-Key: kk11 Cookie: session=abc",
         "Authorization: <redacted> X-Api-Key: <redacted> Cookie: <redacted>"),
        ("client_secret=s3 password=pw1 grant_type=client_credentials",
         "client_secret=<redacted> password=<redacted> grant_type=client_credentials"),
        # prose an operator needs stays as it is
        ("Basic auth failed", "Basic auth failed"),
        ("auth: token request: HTTP 401: invalid_client (Client authentication failed)",
         "auth: token request: HTTP 401: invalid_client (Client authentication failed)"),
        ("step login: capture token: JSONPath `token` found nothing",
         "step login: capture token: JSONPath `token` found nothing"),
        ("HTTP 503 (expected 2xx)", "HTTP 503 (expected 2xx)"),
        ("checks[0].headers.Authorization: environment variable PAAS_TOKEN is not set",
         "checks[0].headers.Authorization: environment variable PAAS_TOKEN is not set"),
    ],
)
def test_run_time_patterns(text: str, shown: str) -> None:
    redactor = Redactor()
    assert redactor.text(text) == shown
    assert redactor.text(shown) == shown  # redacting twice changes nothing


def test_a_checks_redactor_knows_its_secrets() -> None:
    config = parse_config(CONFIG, env={"PW": "pa55word!", "TOKEN": "tok-123456"})
    redactor = Redactor(model_secrets(config.checks[0], config.secret_values))
    assert redactor.text("the server said pa55word! and tok-123456") == "the server said ${PW} and ${TOKEN}"
    check = http.Check(name="w", component="c", url="http://u:p%40ssw0rd@h/?X-Amz-Signature=abcdef12",
                       headers={"Private-Token": "glpat-xyz9", "Accept": "application/json"})
    redactor = Redactor(model_secrets(check))
    text = "p@ssw0rd p%40ssw0rd glpat-xyz9 abcdef12 dTpwQHNzdzByZA== application/json"
    assert redactor.text(text) == "<redacted> <redacted> <redacted> <redacted> <redacted> application/json"


def test_clean_data_is_not_copied() -> None:
    details = {"status_code": 200, "url": "https://h/health", "phases": {"token": 0.1, "body": 0.2}}
    assert Redactor({"secret-value": "<redacted>"}).data(details) is details
    echoed = {"steps": [{"name": "login", "result": "HTTP 401: secret-value"}], "headers": {"X-Auth-Token": "v"}}
    assert Redactor({"secret-value": "<redacted>"}).data(echoed) == {
        "steps": [{"name": "login", "result": "HTTP 401: <redacted>"}], "headers": {"X-Auth-Token": "<redacted>"}}


BROKEN = """
checks:
  - name: api
    component: paas
    kind: http
    url: "http://robot:hunter2-pw@paas.example.com:99999/?access_token=tok-in-url"
  - name: flow
    component: paas
    kind: flow
    steps:
      - name: login
        request: {url: "ftp://u:flow-pw@h/?token=${TOKEN}"}
  - name: slow
    component: paas
    kind: http
    url: http://h/
    interval: "${PW}"
"""


def test_config_errors_never_echo_a_secret() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BROKEN, env={"PW": "pa55word!", "TOKEN": "tok-123456"})
    text = info.value.render()
    for secret in ("hunter2-pw", "tok-in-url", "flow-pw", "tok-123456", "pa55word!"):
        assert secret not in text, text
    assert "'http://robot:<redacted>@paas.example.com:99999/?access_token=<redacted>' is not a valid URL" in text
    assert "checks[2] (paas/slow).interval: '${PW}' is not a duration" in text


def test_the_log_filter_redacts_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    known = {"known-secret-1": "<redacted>"}
    log_filter = RedactingFilter(lambda: known)
    caplog.handler.addFilter(log_filter)
    log = logging.getLogger("tests.redact")
    try:
        log.warning("GET %s failed", "http://u:hunter2@h/?token=abc")
        try:
            raise ValueError("server said known-secret-1 and Bearer flowtok-9")
        except ValueError:
            log.exception("probe raised")
    finally:
        caplog.handler.removeFilter(log_filter)
    for secret in ("hunter2", "token=abc", "known-secret-1", "flowtok-9"):
        assert secret not in caplog.text, caplog.text
    assert "GET http://u:<redacted>@h/?token=<redacted> failed" in caplog.text
    assert "ValueError: server said <redacted> and Bearer <redacted>" in caplog.text


async def test_a_probe_that_raises_shows_neither_in_its_reason_nor_in_the_log_the_checks_secrets(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def buggy(cfg: http.Check, ctx: object) -> None:
        raise ValueError(f"cannot send {cfg.headers['Private-Token']} to {cfg.url}")

    monkeypatch.setitem(PROBES, "http", SimpleNamespace(probe=buggy))
    check = http.Check(name="w", component="c", url="http://u:hunter2@h/", headers={"Private-Token": "glpat-xyz9"})
    result = await Runner(StateMachine(), ProbeContext(logging.getLogger("t"), None), concurrency=1).execute(check)
    assert result.reason == "probe error: ValueError: cannot send <redacted> to http://u:<redacted>@h/"
    assert "probe http raised for check c/w" in caplog.text
    assert 'raise ValueError(f"cannot send' in caplog.text  # the traceback is there
    assert "glpat-xyz9" not in caplog.text and "hunter2" not in caplog.text
