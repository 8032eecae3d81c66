"""The status-history UI served by the service (pages, widgets' data, plotly figures, static assets)
and, beside it, a Grafana dashboard and Prometheus alert rules. Reads only; never writes state."""

from dashboards.web import install_ui

__all__ = ["install_ui"]
