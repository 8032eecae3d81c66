"""The agent and a centre whose certificate a private CA signed: `--ca-file` trusts it; without
it the link reports the failed verification and sends nothing."""

from __future__ import annotations

from pathlib import Path

from monitor.agent.link import Link, Outcome
from tests.agent.centre import Centre
from tests.agent.conftest import TOKEN, http_check, wait_for
from tests.pki import Pki


def test_ca_file_trusts_a_private_ca(tmp_path: Path, target, make_agent):
    pki = Pki.create(tmp_path)
    cert, key, _ = pki.server_cert_files()
    centre = Centre(token=TOKEN, checks=[http_check(target, "a")], tls=(cert, key)).start()
    try:
        agent = make_agent(centre, "--ca-file", pki.ca_file)
        wait_for(lambda: len(centre.results()) >= 3, 10, "results over TLS")
        assert agent.terminate() == 0
    finally:
        centre.stop()


async def test_without_the_ca_the_link_says_why(tmp_path: Path):
    pki = Pki.create(tmp_path)
    cert, key, _ = pki.server_cert_files()
    centre = Centre(token=TOKEN, checks=[], tls=(cert, key)).start()
    link = Link(centre.url, TOKEN)
    try:
        answer = await link.fetch(None, 0)
        assert answer.outcome is Outcome.UNREACHABLE and answer.status is None
        assert "CERTIFICATE_VERIFY_FAILED" in answer.reason
        trusted = Link(centre.url, TOKEN, ca_file=pki.ca_file)
        answer = await trusted.fetch(None, 0)
        await trusted.aclose()
        assert answer.outcome is Outcome.OK and answer.etag == centre.version
    finally:
        await link.aclose()
        centre.stop()
