"""Real `platform-monitor agent` processes, started as a user starts them (`python -m monitor agent
--server URL --name NAME --token-file F --buffer PATH --listen 127.0.0.1:PORT`), each in its own
working directory (where relative paths of its checks resolve), stopped or killed by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.peers import free_port
from tests.scaleout.harness import OwnProcess
from tests.targets import wait_for

START_TIMEOUT = 40.0  # seconds: imports on a busy 2-core machine


class Agent(OwnProcess):
    def __init__(self, name: str, server: str, token: str, workdir: Path, *, buffer: Path | None = None) -> None:
        self.name = name
        self.server = server
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.token_file = workdir / "token"
        self.token_file.write_text(token + "\n")
        self.buffer = buffer or workdir / "buffer.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "agent.log"
        self.process: subprocess.Popen | None = None

    def start(self, *, wait: bool = True) -> Agent:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "agent", "--server", self.server, "--name", self.name,
                 "--token-file", str(self.token_file), "--buffer", str(self.buffer),
                 "--listen", f"127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, env={**os.environ})
        if wait:
            wait_for(lambda: self.get("/healthz") is not None, timeout=START_TIMEOUT, interval=0.2,
                     what=f"agent {self.name} answering (log: {self.log_path})")
        return self

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(self.url + path, timeout=3)
        except httpx.HTTPError:
            return None

    def metric(self, name: str, **labels: str) -> float:
        answer = self.get("/metrics")
        total = 0.0
        for line in (answer.text if answer is not None else "").splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{") and all(
                    f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
