"""`platform-monitor agent`'s command line: a missing token, an unreadable file, a bad URL or an
address it cannot listen on is one line on stderr and exit 2, before anything runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from tests.agent.conftest import ROOT


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("agent-token-0123456789abcdef\n")
    return path


def _run(capsys, monkeypatch, tmp_path: Path, *args: str, env_token: str = "") -> tuple[int, str]:
    monkeypatch.setenv("PM_AGENT_TOKEN", env_token)
    monkeypatch.chdir(tmp_path)
    code = main(["agent", *args])
    err = capsys.readouterr().err
    return code, err


def test_missing_token(capsys, monkeypatch, tmp_path):
    code, err = _run(capsys, monkeypatch, tmp_path, "--server", "http://127.0.0.1:1", "--name", "dc")
    assert code == 2
    assert err == "platform-monitor agent: no token: give --token-file FILE or set $PM_AGENT_TOKEN\n"


def test_unreadable_and_empty_token_files(capsys, monkeypatch, tmp_path):
    code, err = _run(capsys, monkeypatch, tmp_path, "--server", "http://127.0.0.1:1", "--name", "dc",
                     "--token-file", str(tmp_path / "nope"))
    assert code == 2
    missing = tmp_path / "nope"
    assert err == f"platform-monitor agent: --token-file {missing}: cannot read it (No such file or directory)\n"
    (tmp_path / "empty").write_text(" \n")
    code, err = _run(capsys, monkeypatch, tmp_path, "--server", "http://127.0.0.1:1", "--name", "dc",
                     "--token-file", str(tmp_path / "empty"))
    assert (code, err) == (2, f"platform-monitor agent: --token-file {tmp_path / 'empty'} is empty\n")


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://centre", "https://", "http://centre:99999"])
def test_bad_server_url(capsys, monkeypatch, tmp_path, token_file, url):
    code, err = _run(capsys, monkeypatch, tmp_path, "--server", url, "--name", "dc", "--token-file", str(token_file))
    assert code == 2
    assert err == f"platform-monitor agent: --server {url!r} is not an http:// or https:// URL with a host\n"


def test_bad_name_listen_and_ca_file(capsys, monkeypatch, tmp_path, token_file):
    base = ["--server", "https://centre.example", "--token-file", str(token_file)]
    code, err = _run(capsys, monkeypatch, tmp_path, *base, "--name", "prod dc")
    assert code == 2 and "--name 'prod dc': use letters, digits" in err
    code, err = _run(capsys, monkeypatch, tmp_path, *base, "--name", "dc", "--listen", "9108")
    assert code == 2 and "--listen '9108' is not HOST:PORT" in err
    code, err = _run(capsys, monkeypatch, tmp_path, *base, "--name", "dc", "--ca-file", str(tmp_path / "ca.pem"))
    assert code == 2 and err.startswith(f"platform-monitor agent: --ca-file {tmp_path / 'ca.pem'}: cannot use it")
    assert err.count("\n") == 1


def test_a_port_in_use_and_an_unusable_buffer(capsys, monkeypatch, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = _run(capsys, monkeypatch, tmp_path, "--server", "http://127.0.0.1:1", "--name", "dc",
                         "--listen", f"127.0.0.1:{port}", env_token="agent-token-0123456789abcdef")
    assert code == 2 and err == f"platform-monitor agent: --listen 127.0.0.1:{port}: Address already in use\n"
    code, err = _run(capsys, monkeypatch, tmp_path, "--server", "http://127.0.0.1:1", "--name", "dc",
                     "--buffer", str(tmp_path / "no" / "such" / "dir.db"), env_token="agent-token-0123456789abcdef")
    assert code == 2 and err.startswith(f"platform-monitor agent: --buffer {tmp_path / 'no' / 'such' / 'dir.db'}: ")
    assert not (tmp_path / "platform-monitor-agent-dc.db").exists()


def test_the_real_command_exits_2_on_a_missing_token(tmp_path):
    done = subprocess.run([sys.executable, "-m", "monitor", "agent", "--server", "http://127.0.0.1:1", "--name", "dc"],
                          cwd=ROOT, env={**os.environ, "PM_AGENT_TOKEN": ""}, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2
    assert done.stderr == "platform-monitor agent: no token: give --token-file FILE or set $PM_AGENT_TOKEN\n"
