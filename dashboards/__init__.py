"""The status-history UI served by the service (pages, plotly figures, static assets; the pages read
/api/v1 like any client) and, beside it, a Grafana dashboard and Prometheus alert rules. Imports
only the API layer (monitor.api) and storage.history's public reads. Reads only."""

from dashboards.web import install_ui

__all__ = ["install_ui"]
