// The pages' reads of /api/v1 (the JSON API users call), shaped for the widgets: live state,
// components' titles, the platform at an instant, incidents, daily uptime bars, maintenance occurrences, processes.
import { apiCheckPath } from "./dom.js";
import { getDated, getJSON, query } from "./fetch.js";

const UPCOMING_MS = 7 * 86400000; // maintenance listed ahead of now
const byKey = (key) => (a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0);

// A check row as the tables show it, from /api/v1/checks (live).
function liveCheck(c) {
  const last = c.last_result;
  return {
    id: c.id, name: c.name, component: c.component, kind: c.kind, status: c.state.status, since: c.state.since,
    reason: c.state.reason, latency: last ? last.latency : null, last_run: last ? last.time : null,
  };
}

// Every component (or one) and its checks now:
// {as_of, components: [{name, title, group, description, status, since, counts}], checks}.
export async function liveState({ component = null } = {}) {
  const [comps, checks] = await Promise.all([
    getDated("/api/v1/components"), getDated(`/api/v1/checks?${query({ component })}`)]);
  const components = comps.data.filter((c) => component === null || c.name === component)
    .map((c) => ({ name: c.name, title: c.title, group: c.group, description: c.description, status: c.status,
      since: c.since, counts: c.checks })).sort(byKey("name"));
  return { as_of: checks.asOf, components, checks: checks.data.map(liveCheck).sort(byKey("id")) };
}

// One configured check now (its settings too): {as_of, check, settings}.
export async function liveCheckState(id) {
  const { data, asOf } = await getDated(apiCheckPath(id));
  return { as_of: asOf, check: liveCheck(data), settings: data.settings,
           sites: data.locations || ["central"], quorum: data.quorum || 1, byLocation: data.by_location || [] };
}

// Current components' titles (config `components.<name>.title`, the name by default): name → title.
// A component no longer configured has none: pages show its name.
export async function componentTitles() {
  const comps = await getJSON("/api/v1/components");
  return new Map(comps.map((c) => [c.name, c.title]));
}

// The platform at `ms` (/api/v1/snapshot), shaped like liveState(), with the nearest changes;
// components carry today's titles.
export async function snapshotAt(ms) {
  const [s, titles] = await Promise.all([getJSON(`/api/v1/snapshot?${query({ at: new Date(ms) })}`),
    componentTitles()]);
  return {
    as_of: s.at,
    components: s.components.map((c) => ({
      name: c.id, title: titles.get(c.id) || c.id, status: c.state, since: c.since, counts: c.checks,
      maintenance: c.maintenance })),
    checks: s.checks.map((c) => ({
      id: c.id, name: c.name, component: c.component, kind: c.kind, status: c.state, since: c.since,
      reason: c.reason, maintenance: c.maintenance, latency: c.last_result ? c.last_result.latency : null,
      last_run: c.last_result ? c.last_result.time : null })),
    previous_change: s.previous_change ? s.previous_change.time : null,
    next_change: s.next_change ? s.next_change.time : null,
  };
}

// State changes in [from, to) (ms): {changes, truncated}, newest first; a component's change
// carries its title.
export async function changesBetween(from, to) {
  const [found, titles] = await Promise.all([
    getJSON(`/api/v1/changes?${query({ from: new Date(from), to: new Date(to) })}`), componentTitles()]);
  for (const c of found.changes) if (c.kind === "component") c.title = titles.get(c.subject) || c.subject;
  return found;
}

// Incidents overlapping [from, to) (ms) with what was alerted, and their component's title:
// {as_of, incidents} as the table shows them.
export async function incidentsBetween(from, to, { component = null } = {}) {
  const [{ data, asOf }, titles] = await Promise.all([getDated(`/api/v1/incidents?${query({
    component, from: new Date(from), to: new Date(to), alerts: true })}`), componentTitles()]);
  return {
    as_of: asOf,
    incidents: data.map((i) => ({
      component: i.component, title: titles.get(i.component) || i.component, start: i.start, end: i.end, duration: i.duration_seconds, worst: i.worst,
      reason: i.reasons.length ? i.reasons[0].reason : "", checks: i.checks, maintenance: i.maintenance_seconds,
      alerts: i.alerts })),
  };
}

// Daily bars from an overview-like answer: per day date, uptime (fraction), worst, seconds per state.
function bars(dayStarts, daily) {
  return dayStarts.map((start, i) => {
    const seconds = {};
    for (const state of ["down", "degraded", "unknown", "maintenance"]) {
      const value = daily[`${state}_seconds`][i];
      if (value > 0) seconds[state] = value;
    }
    const availability = daily.availability[i];
    return { date: start.slice(0, 10), uptime: availability === null ? null : availability / 100,
      worst: daily.worst[i] || "nodata", seconds, incidents: daily.incidents[i] };
  });
}

const fraction = (percent) => (percent === null || percent === undefined ? null : percent / 100);

// Uptime bars over `days`: of every current component (names null), some components
// (/api/v1/overview), or some checks (/api/v1/checks/{id}/daily): {days, series, uptime}.
export async function uptimeBars({ kind = "component", names = null, days = 90 }) {
  const out = { days, series: {}, uptime: {} };
  if (kind === "check") {
    const found = await Promise.all((names || []).map((id) => getJSON(`${apiCheckPath(id)}/daily?${query({ days })}`)));
    for (const c of found) {
      out.series[c.check_id] = bars(c.day_starts, c.daily);
      out.uptime[c.check_id] = fraction(c.availability);
    }
    return out;
  }
  const overview = await getJSON(`/api/v1/overview?${query({ days })}`);
  for (const c of overview.components) {
    if (names !== null && !names.includes(c.id)) continue;
    out.series[c.id] = bars(overview.day_starts, c.daily);
    out.uptime[c.id] = fraction(c.availability);
  }
  return out;
}

// Maintenance occurrences open now or within a week, soonest first, of the windows covering
// the component or the check (all without either): {id, name, reason, start, end, active, components, checks}.
export async function maintenanceComing({ component = null, check = null } = {}) {
  const now = Date.now();
  const windows = await getJSON(`/api/v1/maintenance?${query({
    component, check, from: new Date(now), to: new Date(now + UPCOMING_MS) })}`);
  const out = [];
  for (const w of windows) {
    for (const o of w.occurrences) {
      out.push({ id: w.id, name: o.name, reason: w.reason, source: w.source, start: o.start, end: o.end,
        active: Date.parse(o.start) <= now && now < Date.parse(o.end), components: o.components, checks: o.checks });
    }
  }
  return out.sort((a, b) => Date.parse(a.start) - Date.parse(b.start) || a.id - b.id);
}

// The processes sharing the database as the answering process last saw them (/api/v1/replicas):
// {as_of, replicas, shards, unheld_shards, observed_at, problem}; as_of is the service's clock.
// A shard the answering process holds now (its held_shards) is not unheld, whatever its last
// read of the lease table said: its first round reads before it claims, so for that round
// every shard it holds is also listed as unheld.
export async function processesNow() {
  const { data, asOf } = await getDated("/api/v1/replicas");
  const self = data.replicas.find((r) => r.self);
  const mine = new Set((self && self.held_shards) || []);
  return { as_of: asOf, ...data, unheld_shards: data.unheld_shards.filter((s) => !mine.has(s)) };
}

// The configured remote agents and what the centre last heard from each (/api/v1/agents).
export async function agentsNow() {
  const { data, asOf } = await getDated("/api/v1/agents");
  return { as_of: asOf, agents: data };
}

// Alerts now (/api/v1/alerts): firing, silenced, covered, recent deliveries (newest first),
// outbox, receivers, silences, with as_of by the service's clock.
export async function alertsNow({ limit = 100 } = {}) {
  const { data, asOf } = await getDated(`/api/v1/alerts?${query({ limit })}`);
  return { as_of: asOf, ...data };
}

// The receivers whose deliveries fail now, from an alertsNow() answer: [{receiver, error}].
// A receiver fails while a delivery of its outbox is being retried after an error, or when its
// latest finished delivery was not delivered (failed, expired, rejected). The outbox's
// last_errors alone says nothing of now: it keeps a receiver's last error after it recovers.
export function failingReceivers(alerts) {
  const out = new Map();
  const finished = new Set();
  for (const d of alerts.deliveries) { // newest first
    if (out.has(d.receiver)) continue;
    if (d.outcome === "pending") {
      if (d.last_error) out.set(d.receiver, d.last_error);
    } else if (!finished.has(d.receiver)) {
      finished.add(d.receiver);
      if (d.outcome !== "delivered" && d.outcome !== "dropped") {
        out.set(d.receiver, d.last_error || alerts.outbox.last_errors[d.receiver] || d.outcome);
      }
    }
  }
  return [...out].map(([receiver, error]) => ({ receiver, error })).sort(byKey("receiver"));
}

// The running config against the file on disk and the last reload (/api/v1/config/status).
export async function configStatus() {
  return getJSON("/api/v1/config/status");
}
