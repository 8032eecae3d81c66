"""Message templates: sandboxed Jinja2 over the event payload, with the default title and
markdown text every chat receiver uses unless its config overrides them. Pure text: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["DEFAULT_TEXT", "DEFAULT_TITLE", "TemplateError", "check_template", "render"]

_ENV = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)

DEFAULT_TITLE = "{{ status_mark }} {{ summary }}"
DEFAULT_TEXT = """\
### {{ status_mark }} {{ summary }}
- **{{ alert.subject }}**: {{ alert.id }}{% if alert.kind != "component" %} ({{ alert.kind }}){% endif %}

- **component**: {{ alert.component }}
- **severity**: {{ alert.severity }}
- **state**: {{ state.old }} → {{ state.new }}
{% if state.reason %}
- **reason**: {{ state.reason }}
{% endif %}
- **since**: {{ starts_at }}
{% if ends_at %}
- **resolved at**: {{ ends_at }}
{% endif %}
{% if covers.count %}
- **covers**: {{ covers.count }} dependent alert{{ "s" if covers.count != 1 }} ({{ covers.subjects | join(", ") }})
{% endif %}
{% if type == "reminder" %}
- **reminder**: {{ reminder }}
{% endif %}

[Open in platform-monitor]({{ links.ui }})
"""

_MARKS = {"firing": "🔴 FIRING", "reminder": "🔴 STILL FIRING", "resolved": "✅ RESOLVED"}


def check_template(source: str) -> None:
    """Raise ValueError if `source` is not a valid template (config load time)."""
    try:
        _ENV.from_string(source)
    except TemplateError as exc:
        raise ValueError(f"invalid template: {exc}") from None


def render(source: str, payload: Mapping[str, Any]) -> str:
    """Render `source` over the payload; raises jinja2.TemplateError (a sandbox violation is one)."""
    context = {**payload, "status_mark": _MARKS.get(str(payload.get("type")), "")}
    return _ENV.from_string(source).render(context).strip()
