"""The runner's redaction cost per result (monitor.redact.Redactor on a typical http result's reason
and details), for a check without secrets and one with several, plus a result that carries an
echoed secret. Pure CPU; no network.

    .venv/bin/python bench/redact.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.redact import Redactor, model_secrets
from probes import http

ENV = {"s3cr3t-from-env": "${TOKEN}"}


def _details(url: str) -> dict:
    return {
        "status_code": 200, "http_version": "HTTP/1.1", "url": url, "redirects": 0, "body_bytes_read": 1234,
        "tls_version": "TLSv1.3", "cert_not_after": "2027-01-01T00:00:00Z",
        "phases": {"headers": 0.012345, "body": 0.000321},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20000)
    runs = parser.parse_args().runs
    plain = http.Check(name="web", component="c", url="https://web.example.com/health")
    secret = http.Check(
        name="api", component="c", url="https://robot:pa55w0rd@api.example.com/health?access_token=tok-123456",
        headers={"Authorization": "Bearer flowtok-abcdef", "X-Api-Key": "key-98765", "X-Trace": "on"},
    )
    cases = {
        "no secrets, clean result": (plain, "HTTP 200", _details(plain.url)),
        "with secrets, clean result": (secret, "HTTP 200", _details("https://robot:<redacted>@api.example.com/health")),
        "with secrets, URL in details": (secret, "HTTP 200", _details(secret.url)),
        "with secrets, echoed token": (secret, "JSONPath `auth` = 'Bearer flowtok-abcdef' (expected 'x')",
                                        _details(secret.url)),
    }
    build = timeit.timeit(lambda: Redactor(model_secrets(secret, ENV)), number=2000) / 2000
    print(f"build once per check (with secrets): {build * 1e6:.1f} µs")
    for name, (check, reason, details) in cases.items():
        redactor = Redactor(model_secrets(check, ENV))

        def one(redactor: Redactor = redactor, reason: str = reason, details: dict = details) -> None:
            redactor.text(reason)
            redactor.data(details)

        per = min(timeit.repeat(one, number=runs, repeat=3)) / runs
        print(f"{name:32s} {per * 1e6:6.1f} µs per result")


if __name__ == "__main__":
    main()
