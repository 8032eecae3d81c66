"""Single sign-on against the provider double (tests/auth/oidc_provider.py) on 127.0.0.1: the whole
authorization code flow with PKCE S256 and a session at the end; ID tokens with a wrong nonce, an
expiry past, another audience, another issuer or a foreign signature refused; a state that does
not match refused; a user with no mapped group refused with a page that says why."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.auth.conftest import AuthService, auth_block
from tests.auth.oidc_provider import OidcProvider
from tests.pki import Pki


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    p = OidcProvider().start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def sso_service(start_service, provider) -> AuthService:
    oidc = (f"  oidc: {{issuer: \"{provider.url}\", client_id: {provider.client_id}, "
            f"client_secret: \"{provider.client_secret}\", roles_claim: groups, "
            f"role_map: {{sre: admin, oncall: operator, dev: viewer}}}}\n")
    service = start_service(auth=auth_block(extra=oidc))  # public_url: http://host:port by default
    provider.redirect_uris.add(service.url + "/login/oidc/callback")
    return service


def sign_in(service: AuthService, *, next_path: str = "/alerts", state: str | None = None) -> tuple[httpx.Client,
                                                                                                    httpx.Response]:
    """Through the flow as a browser would: the service, the provider, back to the callback."""
    client = service.client()
    leave = client.get(f"/login/oidc?next={next_path}")
    assert leave.status_code == 303, leave.text
    at_provider = httpx.get(leave.headers["location"], timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = at_provider.headers["location"]
    if state is not None:
        back = back.replace(parse_qs(urlsplit(back).query)["state"][0], state)
    assert back.startswith(service.url + "/login/oidc/callback?")
    return client, client.get(back.removeprefix(service.url))


def test_sign_in_with_the_provider(sso_service, provider):
    client, answer = sign_in(sso_service)
    assert answer.status_code == 303 and answer.headers["location"] == "/alerts", answer.text
    request = provider.authorize_requests[-1]
    assert request["code_challenge_method"] == "S256" and len(request["code_challenge"]) == 43
    assert "code_verifier" not in request  # the verifier goes to the token endpoint only
    assert provider.token_requests[-1]["code_verifier"]
    page = client.get("/audit")  # sara is in `sre`: admin
    assert page.status_code == 200 and "sara" in page.text
    entry = next(e for e in sso_service.audit() if e["actor"] == "sara")
    assert entry["credential"] == "session:oidc" and entry["role"] == "admin" and entry["outcome"] == "success"


@pytest.mark.parametrize(("tamper", "words"), [
    ("nonce", "nonce does not match"),
    ("expired", "expired"),
    ("audience", "aud"),
    ("issuer", "iss"),
    ("signature", "signature does not verify"),
    ("hs256", "signature does not verify"),
])
def test_bad_id_tokens_are_refused(sso_service, provider, tamper, words):
    provider.tamper = tamper
    client, answer = sign_in(sso_service)
    assert answer.status_code == 403, answer.text
    assert "Sign-in refused" in answer.text and words in answer.text
    assert "pm_session" not in answer.headers.get("set-cookie", "")
    assert client.get("/api/v1/checks").status_code == 401


def test_a_state_that_does_not_match_is_refused(sso_service):
    _, answer = sign_in(sso_service, state="forged-state")
    assert answer.status_code == 400 and "state does not match" in answer.text


def test_a_user_in_no_mapped_group_is_told_why(sso_service, provider):
    provider.user.groups = ["staff", "marketing"]
    try:
        client, answer = sign_in(sso_service)
    finally:
        provider.user.groups = ["sre", "staff"]
    assert answer.status_code == 403
    assert "none of your groups is given a role" in answer.text and "sara" in answer.text
    assert client.get("/api/v1/checks").status_code == 401


def test_the_highest_mapped_role_wins(sso_service, provider):
    provider.user.groups = ["dev", "oncall"]
    try:
        client, answer = sign_in(sso_service)
    finally:
        provider.user.groups = ["sre", "staff"]
    assert answer.status_code == 303
    assert client.get("/api/v1/checks").status_code == 200
    assert client.get("/api/v1/audit").status_code == 403  # operator, not admin


def test_a_callback_cannot_be_replayed(sso_service, provider):
    client = sso_service.client()
    leave = client.get("/login/oidc")
    flow = client.cookies.get("pm_oidc")
    back = httpx.get(leave.headers["location"], timeout=10).headers["location"].removeprefix(sso_service.url)
    assert client.get(back).status_code == 303
    with sso_service.client(cookies={"pm_oidc": flow}) as thief:  # the flow cookie too: the code is spent
        again = thief.get(back)
    assert again.status_code == 403 and "code exchange" in again.text
    with sso_service.client() as stranger:  # without the flow cookie: another browser
        assert stranger.get(back).status_code == 400


def test_a_provider_over_https_with_its_own_ca(start_service, tmp_path):
    """`oidc.tls.ca_file` trusts the provider's CA, like every other tls block; without it the
    provider's certificate is refused and the sign-in says the provider cannot be reached."""
    pki = Pki.create(tmp_path)
    cert_file, key_file, _ = pki.server_cert_files()
    provider = OidcProvider(tls=(cert_file, key_file)).start()
    try:
        block = (f"  oidc: {{issuer: \"{provider.url}\", client_id: {provider.client_id}, "
                 f"client_secret: \"{provider.client_secret}\", role_map: {{sre: admin}}, "
                 f"tls: {{ca_file: \"{{ca}}\"}}}}\n")
        trusted = start_service(auth=auth_block(extra=block.replace("{ca}", pki.ca_file)))
        provider.redirect_uris.add(trusted.url + "/login/oidc/callback")
        client = trusted.client()
        leave = client.get("/login/oidc")
        at_provider = httpx.get(leave.headers["location"], verify=ssl.create_default_context(cafile=pki.ca_file))
        answer = client.get(at_provider.headers["location"].removeprefix(trusted.url))
        assert answer.status_code == 303 and client.get("/api/v1/audit").status_code == 200
        untrusted = start_service(auth=auth_block(extra=block.replace(", tls: {ca_file: \"{ca}\"}", "")))
        with untrusted.client() as stranger:
            refused = stranger.get("/login/oidc")
        assert refused.status_code == 502 and "cannot be reached" in refused.text
    finally:
        provider.stop()
