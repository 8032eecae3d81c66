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
