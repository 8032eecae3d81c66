"""The README is the front door: its two set-up commands are the ones CI runs, its example config
validates, and every document it points to exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


def test_ci_runs_the_readme_test_command():
    assert "bash scripts/test.sh" in README
    assert "exec bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_readme_example_config_validates(tmp_path):
    example = README[README.index("```yaml") + len("```yaml"):]
    example = example[:example.index("```")]
    path = tmp_path / "readme.yaml"
    path.write_text(example, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", **{name: f"value-of-{name.lower()}" for name in _ENV_REF.findall(example)}}
    done = subprocess.run([sys.executable, "-m", "monitor", "validate", str(path)], capture_output=True, text=True,
                          timeout=60, env=env, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_linked_document_exists():
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README)
    assert len(links) >= 10
    for link in links:
        assert (ROOT / link).exists(), link
    for doc in (ROOT / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            assert (doc.parent / link).exists(), f"{doc.name}: {link}"
