"""platform-monitor: scheduled probes of a container platform, their history, metrics and alerts."""

__version__ = "0.1.0"
