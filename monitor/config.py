"""Config loading: YAML → `${VAR}` expansion → defaults → typed, validated models. Owns the public
config contract and its error messages (file, place, what is wrong); knows nothing of running."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from monitor.alerts.config import AlertsConfig
from monitor.alerts.receivers import RECEIVERS
from monitor.auth.config import AuthConfig, ServerTlsConfig
from monitor.clusters import ClusterConfig, cluster_checks
from monitor.config_errors import Problem, UnionTags, format_path, problems_of
from monitor.config_yaml import MAX_CONFIG_BYTES, Places, YamlLimitError, read_yaml
from monitor.record_config import ComponentConfig, MaintenanceList, RetentionConfig
from monitor.redact import Redactor, data_secrets
from monitor.remote.config import AgentConfig
from monitor.remote.placement import agent_checks, depending_on_agents, location_problems
from probes import CONFIGURABLE
from probes.base import CheckBase, Duration, RunSettings, format_duration

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]

log = logging.getLogger(__name__)

DEFAULT_STORAGE_URL = "sqlite:///platform-monitor.db"


class ConfigError(Exception):
    """A config that cannot be used. `errors` holds one line per problem, each naming its place;
    `places` the (line, column) in the file where each is, when known."""

    def __init__(self, source: str, errors: list[str], places: list[tuple[int, int] | None] | None = None):
        self.source = source
        self.errors = errors
        self.places = places if places is not None else [None] * len(errors)
        super().__init__(f"{source}: " + "; ".join(errors))

    def render(self) -> str:
        """`FILE: N errors`, then one line per error, `FILE:LINE:COLUMN: place: what is wrong` when
        its place in the file is known (the form editors and terminals jump to)."""
        head = f"{self.source}: {len(self.errors)} error{'s' if len(self.errors) != 1 else ''}"
        lines = [f"{self.source}:{place[0]}:{place[1]}: {line}" if place else line
                 for line, place in zip(self.errors, self.places, strict=True)]
        return "\n".join([head, *(f"  {line}" for line in lines)])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    api_token: str | None = None
    public_url: str | None = None
    """Where people reach the UI (used in alert links); defaults to http://host:port."""
    tls: ServerTlsConfig | None = None


STORAGE_DRIVERS = {
    "sqlite": ("sqlite", None),
    "postgresql": ("postgresql+psycopg", "postgres"),
    "mysql": ("mysql+pymysql", "mysql"),
    "mariadb": ("mariadb+pymysql", "mysql"),
}
"""Databases the schema is migrated and tested on (storage/): backend → (the URL scheme we test,
the package extra that installs its driver)."""


def storage_url(value: str) -> str:
    """Refuse a storage URL `serve` could not use, before it starts: unparsable, a database the
    schema is not made for, or a driver that is not installed (naming the extra that installs it).
    The URL is never echoed: it may hold a password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError("not a database URL (expected e.g. sqlite:///path/to/file.db or "
                         "postgresql+psycopg://user@host/db)") from None
    backend = url.get_backend_name()
    if backend not in STORAGE_DRIVERS:
        raise ValueError(f"{backend!r} is not a supported database: use one of "
                         + ", ".join(f"{scheme}://" for scheme, _ in STORAGE_DRIVERS.values()))
    scheme, extra = STORAGE_DRIVERS[backend]
    install = f" ({_install(extra)})" if extra else ""
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ValueError(f"{url.drivername!r}: no such driver for {backend}: use {scheme}://{install}") from None
    if getattr(dialect, "is_async", False):
        raise ValueError(f"{url.drivername!r} is an asyncio driver; storage needs a blocking one: "
                         f"use {scheme}://{install}")
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        missing = f"No module named {exc.name!r}" if exc.name else str(exc)
        if url.drivername == scheme and extra:
            raise ValueError(f"the driver for {scheme}:// is not installed ({missing}): "
                             f"install the {extra} extra: {_install(extra)}") from None
        raise ValueError(f"the driver for {url.drivername}:// is not installed ({missing}): "
                         f"use {scheme}://{install}") from None
    return value


def _install(extra: str) -> str:
    """The command that installs a package extra into the environment running this process (the
    quick start's venv included: pip keeps the installed platform-monitor and adds the extra's
    packages)."""
    return f"{sys.executable} -m pip install 'platform-monitor[{extra}]'"


class StorageConfig(_Model):
    url: Annotated[str, AfterValidator(storage_url)] = DEFAULT_STORAGE_URL
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    flush_interval: Duration = 1.0
    max_buffer: int = Field(default=200_000, ge=100)
    """Results held in memory while the database is unreachable; beyond this the oldest are
    dropped and counted (state changes are never dropped)."""


class Defaults(RunSettings):
    """`defaults:`: the run settings of every check and cluster that does not set its own."""


class EngineConfig(_Model):
    concurrency: int = Field(default=1000, ge=1, le=100_000)
    """At most this many probes in flight at once, whatever their schedule."""
    shards: int = Field(default=128, ge=1, le=4096)
    """Checks hash into this many shards (crc32 of the check id mod shards); a process probes the
    checks of the shards it holds a lease on. Fixed for a deployment: every process sharing one
    database must use the same number (a process that finds another number in use takes no shard
    and says why)."""
    lease_ttl: Annotated[Duration, Field(ge=3, le=600)] = 15.0
    """A process that cannot renew its leases for this long loses its shards to the others; it
    stops probing and alerting for them before that (see docs/operations.md#several-replicas)."""
    replica_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\s]+$")
    """This process's name in the lease table and on /api/v1/replicas (default
    "<hostname>-<pid>"). Two live processes must not share one."""


class UiConfig(_Model):
    public_only: bool = False
    """Serve only the public status page (/status, its data and assets, /healthz, /readyz): every
    internal page and API answers 404. For an instance that faces people outside the operations
    team. Applied at once on reload."""
    title: str = Field(default="Platform status", min_length=1, max_length=200)
    """The public status page's heading."""
    language: Literal["en", "zh-CN", "auto"] = "auto"
    """The pages' language when the reader has not chosen one (a cookie set by the page's switch):
    `auto` follows the browser's Accept-Language (English when it names neither)."""
    timezone: str | None = Field(default=None, max_length=100)
    """IANA zone the pages show times in, named beside them (None: the browser's own zone). The
    API answers in UTC whatever this says."""

    @model_validator(mode="after")
    def _known_zone(self) -> UiConfig:
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
                raise ValueError(f"unknown time zone {self.timezone!r} (use an IANA name like Asia/Shanghai)"
                                 ) from None
        return self


def _check_union() -> Any:
    """The discriminated union of every configurable kind's model (one source: probes.PROBES)."""
    models = tuple(kind.model for kind in CONFIGURABLE.values())
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007


AnyCheck = _check_union()


class Config(_Model):
    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    defaults: Defaults = Defaults()
    engine: EngineConfig = EngineConfig()
    ui: UiConfig = UiConfig()
    checks: list[AnyCheck] = Field(default_factory=list)  # type: ignore[valid-type]
    retention: RetentionConfig = RetentionConfig()
    components: dict[str, ComponentConfig] = Field(default_factory=dict)
    """Per component (key: its name, or an fnmatch pattern): slo, title, group, description."""
    maintenance: MaintenanceList = Field(default_factory=list)
    alerts: AlertsConfig = AlertsConfig()
    clusters: list[ClusterConfig] = Field(default_factory=list)
    agents: list[AgentConfig] = Field(default_factory=list)
    """Remote agents (docs/agents.md): each a location checks may name, with its token."""
    auth: AuthConfig | None = None
    """Logins, roles and tokens (monitor.auth); None: everything open, writes need server.api_token."""

    _secrets: dict[str, str] = PrivateAttr(default_factory=dict)
    _cluster_checks: list[CheckBase] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _checks_and_clusters(self) -> Config:
        """Ids are unique across the checks and the clusters' checks, `depends_on` names a known
        check, and no check depends on itself through others; every location named is an agent's
        or `central`. The clusters' fixed checks and the agents' checks are expanded here, once,
        and kept as this validator's one result (`all_checks`); a check run by one agent alone
        depends on that agent's check."""
        seen: dict[str, int] = {}
        for i, check in enumerate(self.checks):
            if check.id in seen:
                raise ValueError(
                    f"checks[{i}]: id {check.id!r} is already used by checks[{seen[check.id]}] "
                    "(a check's name must be unique within its component)"
                )
            seen[check.id] = i
        expanded: list[CheckBase] = []
        names: dict[str, int] = {}
        for i, cluster in enumerate(self.clusters):
            if cluster.name in names:
                raise ValueError(
                    f"clusters[{i}]: name {cluster.name!r} is already used by clusters[{names[cluster.name]}]"
                )
            names[cluster.name] = i
            for check in cluster_checks(cluster):
                if check.id in seen:
                    raise ValueError(
                        f"clusters[{i}]: check id {check.id!r} is already used by checks[{seen[check.id]}]"
                    )
                expanded.append(check)
        agent_names: dict[str, int] = {}
        for i, agent in enumerate(self.agents):
            if agent.name in agent_names:
                first = agent_names[agent.name]
                raise ValueError(f"agents[{i}]: name {agent.name!r} is already used by agents[{first}]")
            agent_names[agent.name] = i
        problems = location_problems(self.checks, self.clusters, self.agents)
        if problems:
            raise ValueError("; ".join(problems))
        watchers = agent_checks(self.agents, [*self.checks, *expanded])
        for i, check in enumerate(watchers):
            if check.id in seen:
                raise ValueError(f"agents[{i}]: the agent's check id {check.id!r} is already used by "
                                 f"checks[{seen[check.id]}]")
        if self.agents:
            self.checks[:] = [depending_on_agents(c) for c in self.checks]
            expanded = [depending_on_agents(c) for c in expanded]
        _check_dependencies(self.checks, [*expanded, *watchers])
        self._cluster_checks = [*expanded, *watchers]
        return self

    @property
    def secret_values(self) -> dict[str, str]:
        """Values that came from the environment → the `${VAR}` they came from."""
        return self._secrets

    def all_checks(self) -> list[CheckBase]:
        """The configured checks, then the fixed checks each cluster expands into (its nodes and
        readiness sub-checks come and go at run time: monitor.discovery), then one per agent."""
        return [*self.checks, *self._cluster_checks]

    def check_by_id(self) -> dict[str, CheckBase]:
        return {check.id: check for check in self.all_checks()}


def _check_dependencies(checks: list[CheckBase], cluster_checks: list[CheckBase]) -> None:
    """ValueError when a configured check's `depends_on` names no check, or leads back to it."""
    known = [*checks, *cluster_checks]
    ids = {check.id for check in known}
    for i, check in enumerate(checks):
        for j, parent in enumerate(check.depends_on):
            if parent not in ids:
                raise ValueError(f"checks[{i}] ({check.id}).depends_on[{j}]: no check with id {parent!r}")
    parents = {check.id: check.depends_on for check in known}
    for i, check in enumerate(checks):
        trail, todo = set(), list(check.depends_on)
        while todo:
            cid = todo.pop()
            if cid == check.id:
                raise ValueError(f"checks[{i}] ({check.id}).depends_on: a dependency cycle leads back to it")
            if cid not in trail:
                trail.add(cid)
                todo.extend(parents.get(cid, ()))


_VAR_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
DataPath = tuple[Any, ...]  # keys and indexes into the file's data: ("checks", 3, "url")


def _expand(node: Any, path: DataPath, env: dict[str, str], unset: list[tuple[DataPath, str]], secrets: dict[str, str],
            done: dict[int, Any]) -> Any:
    """Substitute `${VAR}` in every string; an unset one becomes "" and is noted in `unset` with
    its place. A list or mapping reached again through an alias is expanded once (`done`, by
    identity) and shared, never walked again as a copy: aliases cost nothing here, and an error
    names the first place the shared value appears."""
    if isinstance(node, (dict, list)):
        if id(node) in done:
            return done[id(node)]
        if isinstance(node, dict):
            result: Any = {}
            done[id(node)] = result
            for k, v in node.items():
                result[k] = _expand(v, (*path, k), env, unset, secrets, done)
        else:
            result = []
            done[id(node)] = result
            for i, v in enumerate(node):
                result.append(_expand(v, (*path, i), env, unset, secrets, done))
        return result
    if not isinstance(node, str) or "$" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            value = env[name]
        elif default is not None:
            return default
        else:
            unset.append((path, name))
            return ""
        if len(value) >= 4:  # shorter values would redact too much text by accident
            secrets[value] = "${" + name + "}"
        return value

    return _VAR_RE.sub(substitute, node)


_CONTEXT = {"config_file": True}
"""Validation context of a config file's text (probes.base.Duration refuses a bare number there)."""


def _apply_defaults(raw: dict[str, Any]) -> None:
    """Copy `defaults` into every check and cluster that leaves a key unset, so one place sets them
    and the check models stay complete on their own. A default that is itself wrong is not copied:
    its error is said once, at `defaults`, not again for every check."""
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        return
    try:
        Defaults.model_validate(defaults, context=_CONTEXT)
        wrong: set[Any] = set()
    except ValidationError as exc:
        wrong = {err["loc"][0] for err in exc.errors() if err["loc"]}
    copied = {k: v for k, v in defaults.items() if k in RunSettings.model_fields and k not in wrong}
    for check in [*(raw.get("checks") or []), *(raw.get("clusters") or [])]:
        if isinstance(check, dict):
            for key, value in copied.items():
                check.setdefault(key, value)


_UNIONS = {"checks": UnionTags(CONFIGURABLE, "check"), "alerts.receivers": UnionTags(RECEIVERS, "receiver")}
"""Lists whose items are unions on `kind`."""
_LEADING_PATH = re.compile(r"^(checks|clusters)\[(\d+)\]")


def _redacted(errors: list[str], raw: Any, secrets: dict[str, str]) -> list[str]:
    """Error lines as `validate` and a refused reload show them: a message quoting a value
    (`{value!r}`) must not show a password, a token or an environment variable's value."""
    redactor = Redactor({**data_secrets(raw), **secrets})
    return [redactor.text(line) for line in errors]


MAX_ERRORS_SHOWN = 50
"""Error lines printed for one config; a file with thousands of broken checks says how many more
there are instead of flooding the terminal and the log."""


def parse_config(text: str, source: str = "<config>", env: dict[str, str] | None = None, *,
                 only: Collection[str] | None = None) -> Config:
    """Parse and validate config text; raise ConfigError listing every problem found, each with its
    line and column: unset `${VAR}`s together with every other error.

    Refused with the place: invalid YAML, a key given twice, a document past the limits of
    monitor.config_yaml (values with aliases counted as copies, aliases, nesting depth), and an
    empty document (a file with nothing in it is a truncated write or the wrong file far more often
    than a wish for the defaults: `{}` says that).

    `only` (check ids): the config `check --only` needs, `_selected` from the file: only those
    checks' `${VAR}`s must be set and only their errors (and those of `defaults` and `engine`)
    stop it."""
    env = dict(os.environ) if env is None else env
    places = Places()
    try:
        original = read_yaml(text, places)
    except YamlLimitError as exc:
        raise ConfigError(source, [f"{exc.place}: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_yaml_error(exc, text)]) from None
    if original is None:
        raise ConfigError(source, ["line 1: the file holds no settings (it is empty or only comments); "
                                   "write `{}` to run with the built-in defaults and no checks"])
    if not isinstance(original, dict):
        raise ConfigError(source, [f"(top level): a mapping (server:, storage:, checks: ...) is expected, "
                                   f"not a {_yaml_kind(original)}"])
    chosen, kept = _selected(original, only, env) if only is not None else (original, None)
    unset: list[tuple[DataPath, str]] = []
    secrets: dict[str, str] = {}
    raw = _expand(chosen, (), env, unset, secrets, {})
    own_keys = [set(c) if isinstance(c, dict) else set() for c in _as_list(raw.get("checks"))]
    _apply_defaults(raw)
    problems = [Problem(path, f"{format_path(path, raw)}: environment variable {name} is not set")
                for path, name in unset]
    try:
        config = Config.model_validate(raw, context=_CONTEXT)
        found = [*_timeout_errors(config, own_keys), *_host_errors(config)]
    except ValidationError as exc:
        found = problems_of(exc, raw, Config, _UNIONS)
    problems += _without_echoes(found, unset)
    if problems:
        raise _error(source, problems, raw, original, places, secrets, kept)
    config._secrets.update(secrets)
    _warn_unverified_receivers(config, source)
    return config


def _without_echoes(problems: list[Problem], unset: list[tuple[DataPath, str]]) -> list[Problem]:
    """Leave out what an unset variable's empty value made wrong (`port: ${PORT}` is not also
    "not a valid integer"): the variable's own error says it."""
    holes = {path for path, _ in unset}
    return [p for p in problems if not any(p.path[:n] in holes for n in range(len(p.path) + 1))]


def _error(source: str, problems: list[Problem], raw: Any, original: Any, places: Places,
           secrets: dict[str, str], kept: list[int] | None) -> ConfigError:
    """The ConfigError for `problems`, in the order of the file, each placed at its line and column.
    `kept`: the indexes in the file of the checks `_selected` chose (paths and texts count in those)."""
    located = []
    for problem in problems:
        path, text = problem.path, problem.text
        if not path and (lead := _LEADING_PATH.match(text.removeprefix("(top level): "))):
            path = (lead.group(1), int(lead.group(2)))  # a whole-config rule's message names its place
        if kept is not None:
            path, text = _renumbered(path, kept), _CHECK_INDEX.sub(lambda m: _renumbered_index(m, kept), text)
        located.append((places.find(original, path), text))
    located.sort(key=lambda item: item[0])
    shown = located[:MAX_ERRORS_SHOWN]
    lines = _redacted([text for _, text in shown], raw, secrets)
    where: list[tuple[int, int] | None] = [place for place, _ in shown]
    if len(located) > len(shown):
        lines.append(f"... and {len(located) - len(shown):,} more errors")
        where.append(None)
    return ConfigError(source, lines, where)


_CHECK_INDEX = re.compile(r"\bchecks\[(\d+)\]")


def _renumbered(path: DataPath, kept: list[int]) -> DataPath:
    """A path into `_selected`'s checks as a path into the file's."""
    if len(path) >= 2 and path[0] == "checks" and isinstance(path[1], int) and path[1] < len(kept):
        return ("checks", kept[path[1]], *path[2:])
    return path


def _renumbered_index(match: re.Match[str], kept: list[int]) -> str:
    index = int(match[1])
    return f"checks[{kept[index]}]" if index < len(kept) else match[0]


def _selected(raw: dict[str, Any], only: Collection[str], env: dict[str, str]) -> tuple[dict[str, Any], list[int]]:
    """What running the checks `only` once needs of the file: `defaults`, `engine` and those checks
    (without `depends_on`, which a single run does not use and which names other checks); the
    clusters too when an id is none of the configured checks' (a cluster's checks are known only
    once it is read). Nothing else is read: neither the other parts' `${VAR}`s nor their errors stop
    the run. Returns it and the chosen checks' indexes in the file."""
    checks = _as_list(raw.get("checks"))
    kept = [i for i, check in enumerate(checks) if _id_of(check, env) in only]
    chosen: dict[str, Any] = {key: raw[key] for key in ("defaults", "engine", "agents") if key in raw}
    chosen["checks"] = [{k: v for k, v in checks[i].items() if k != "depends_on"} for i in kept]
    if set(only) - {_id_of(checks[i], env) for i in kept} and "clusters" in raw:
        chosen["clusters"] = raw["clusters"]
    return chosen, kept


def _id_of(check: Any, env: dict[str, str]) -> str | None:
    """A check's id as written (`${VAR}`s expanded, unset ones empty), before it is validated."""
    if not isinstance(check, dict):
        return None
    unset: list[tuple[DataPath, str]] = []
    parts = [_expand(check.get(key), (), env, unset, {}, {}) for key in ("component", "name")]
    return "/".join(str(part) for part in parts)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _timeout_errors(config: Config, own_keys: list[set[str]]) -> list[Problem]:
    """A timeout longer than its interval: the next run would be due while this one may still be
    going (the scheduler would skip it, silently halving the rate). Prometheus refuses the same of a
    scrape. Said once where it is set: in defaults, or on the check or cluster that sets either."""
    errors = []
    rule = "(a timeout must not exceed the interval)"
    d = config.defaults
    if d.timeout > d.interval:
        errors.append(Problem(("defaults", "timeout"), f"defaults.timeout: {format_duration(d.timeout)} is longer "
                              f"than defaults.interval {format_duration(d.interval)} {rule}"))
    for i, check in enumerate(config.checks):
        keys = own_keys[i] if i < len(own_keys) else set()
        if check.timeout > check.interval and keys & {"timeout", "interval"}:
            origin = "" if "timeout" in keys else " (from defaults.timeout)"
            errors.append(Problem(("checks", i, "timeout" if "timeout" in keys else "interval"),
                                  f"checks[{i}] ({check.id}).timeout: {format_duration(check.timeout)}{origin} is "
                                  f"longer than its interval {format_duration(check.interval)} {rule}"))
    for i, cluster in enumerate(config.clusters):
        if cluster.timeout > cluster.interval and (cluster.timeout, cluster.interval) != (d.timeout, d.interval):
            errors.append(Problem(("clusters", i, "timeout"),
                                  f"clusters[{i}] ({cluster.name}).timeout: {format_duration(cluster.timeout)} is "
                                  f"longer than its interval {format_duration(cluster.interval)} {rule}"))
    return errors


_HOST_FIELDS = ("host", "server_name")  # check fields that hold a bare host name or address
_URL_FIELDS = ("url", "dsn")  # check fields that hold a URL, whose host is checked the same way
_HOST_LABEL = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$")  # letters (IDN too), digits, `-`, `_`


def host_problem(host: str) -> str | None:
    """Why `host` is not a host name or IP address a probe could connect to, or None if it is."""
    if not host:
        return "it is empty"
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
        return None
    except ValueError:
        pass
    bad = next((c for c in host if c.isspace() or c in "/\\@?#:[]<>'\"`{}|^%,;"), None)
    if bad is not None:
        return f"it contains {'a space' if bad == ' ' else repr(bad)} at position {host.index(bad)}"
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253:
        return "it is longer than 253 characters"
    for label in name.split("."):
        if not _HOST_LABEL.match(label):
            return f"{label!r} is not a valid label (1-63 letters, digits, '-' or '_', not starting or ending with '-')"
    return None


def _host_errors(config: Config) -> list[Problem]:
    errors = []
    for i, check in enumerate(config.checks):
        for field in (*_HOST_FIELDS, *_URL_FIELDS):
            value = getattr(check, field, None)
            if not isinstance(value, str):
                continue
            if field in _URL_FIELDS:
                if "://" not in value:
                    continue
                try:
                    host = urlsplit(value).hostname
                except ValueError:
                    continue  # the field's own validator says what is wrong
                if host is None:
                    continue
                problem = host_problem(host)
                shown = f"the URL's host {host!r}"
            else:
                problem = host_problem(value)
                shown = repr(value)
            if problem:
                errors.append(Problem(("checks", i, field),
                                      f"checks[{i}] ({check.id}).{field}: {shown} is not a valid host name: {problem}"))
    return errors


def _yaml_error(exc: yaml.YAMLError, text: str) -> str:
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML forbids (NUL, other controls)
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        return f"line {line}, column {column}: invalid YAML: the character {char!r} is not allowed"
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else "(top level): "
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    return f"{where}invalid YAML: {context + ', ' if context else ''}{problem}"


def _yaml_kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def _warn_unverified_receivers(config: Config, source: str) -> None:
    """A receiver with `tls.verify: false` is allowed (a last resort) but never quietly."""
    for i, receiver in enumerate(config.alerts.receivers):
        tls = getattr(receiver, "tls", None)
        if tls is not None and not tls.verify:
            log.warning("%s: alerts.receivers[%d] (%s): tls.verify is off: the receiver's certificate is not "
                        "checked, whoever answers at its address gets the alerts", source, i, receiver.name)


def load_config(path: str | Path, env: dict[str, str] | None = None, *,
                only: Collection[str] | None = None) -> Config:
    """Read and validate a config file; raise ConfigError naming the file on any problem. Blocking
    and CPU-bound (up to seconds for a large file): a running service calls it in a thread.
    `only`: see parse_config."""
    path = Path(path)
    return parse_config(read_config_text(path), str(path), env, only=only)


def read_config_text(path: Path) -> str:
    """The file's text, refused (ConfigError) past MAX_CONFIG_BYTES or when it is not UTF-8. Reads
    at most one byte past the limit, whatever the file claims to be (a device, a growing file)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(str(path), [
            f"(whole file): larger than the limit of {MAX_CONFIG_BYTES // (1024 * 1024)} MiB for a config "
            "(a 10,000-check config is ~1.2 MB): is this the right file?"
        ])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(str(path), [
            f"line {line}, column {column} (byte {exc.start}): not UTF-8 text: {exc.reason}"
        ]) from None


