"""The centre's side of agents, tested against a real `serve` process: requests made as an agent
makes them (tests/remote/wire.py), and the scale-out tests' counting target and webhook sink."""

from tests.scaleout.conftest import hook, target

__all__ = ["hook", "target"]
