// The Alerts page's tables, from /api/v1/alerts: alerts firing (with an Acknowledge button),
// silenced and covered, recent deliveries, receivers (outbox depth, last error), silences (with
// End for the API's). Text only; actions are callbacks the page passes in.
import { checkHref, componentHref, fmtTime, h, replace, since, table } from "../lib/dom.js";
import { t, tn, ZONE } from "../lib/i18n.js";
import { outcomeLabel } from "./incidents.js";

const OUTCOME_CLASS = { delivered: "up", pending: "degraded", failed: "down", expired: "down", rejected: "down" };
const INTERNAL_LABELS = new Set(["check", "component", "kind", "name", "severity", "subject"]);

const HELD = { silenced: t("silenced"), covered: t("covered") };

function subjectLink(key) {
  const [kind, ...rest] = key.split(":");
  const subject = rest.join(":");
  if (kind === "check") return h("a", { href: checkHref(subject), class: "mono" }, key);
  if (kind === "component") return h("a", { href: componentHref(subject), class: "mono" }, key);
  return h("span", { class: "mono" }, key);
}

// The labels a person set (the check's `labels:`), then kind: the rest is in the key and columns.
function labelsText(alert) {
  const labels = (alert && alert.labels) || {};
  const own = Object.keys(labels).filter((k) => !INTERNAL_LABELS.has(k)).sort();
  const shown = own.map((k) => `${k}=${labels[k]}`);
  if (labels.kind) shown.push(`kind=${labels.kind}`);
  return shown.join(" ");
}

function severityTag(alert) {
  const severity = alert && alert.severity;
  return severity ? h("span", { class: `tag severity ${severity}` }, severity) : "—";
}

function reasonOf(a) {
  return (a.state && a.state.reason) || "";
}

// firing: AlertOut list; onAck(key) acknowledges one.
export function renderFiring(root, firing, { onAck }) {
  if (!firing.length) return replace(root, h("p", { class: "empty" }, t("Nothing is firing.")));
  const { el, body } = table([
    { title: t("Alert") }, { title: t("Severity"), col: "c-kind" }, { title: t("Since ({zone})", { zone: ZONE }), col: "c-time" },
    { title: t("Labels") }, { title: t("Acknowledged by"), col: "c-since" }, { title: "", col: "c-since" },
  ]);
  for (const a of firing) {
    const acked = a.acknowledged_by;
    body.append(h("tr", { dataset: { alert: a.key } },
      h("td", { class: "reason" }, h("div", null, subjectLink(a.key)),
        h("div", { class: "muted" }, a.summary || reasonOf(a)),
        a.covers.count ? h("div", { class: "muted" }, tn("covers {n} dependent alert", "covers {n} dependent alerts", a.covers.count)) : null),
      h("td", null, severityTag(a.alert)),
      h("td", { class: "mono", title: since(a.since) }, fmtTime(a.since), h("div", { class: "muted" }, since(a.since))),
      h("td", { class: "reason mono labels" }, labelsText(a.alert)),
      h("td", { class: "acked" }, acked ? h("span", { class: "tag acked" }, acked) : h("span", { class: "muted" }, t("no"))),
      h("td", null, acked ? "" : h("button", { type: "button", class: "btn ack", onclick: (e) => onAck(a.key, e.target) },
        t("Acknowledge")))));
  }
  return replace(root, el);
}

// silenced and covered: held back, recorded, not sent.
export function renderSuppressed(root, silenced, covered) {
  const rows = [...silenced, ...covered];
  if (!rows.length) return replace(root, h("p", { class: "empty" }, t("No alert is held back.")));
  const { el, body } = table([
    { title: t("Alert") }, { title: t("Held"), col: "c-kind" }, { title: t("Since ({zone})", { zone: ZONE }), col: "c-time" },
    { title: t("By") },
  ]);
  for (const a of rows) {
    body.append(h("tr", { dataset: { alert: a.key, status: a.status } },
      h("td", { class: "reason" }, h("div", null, subjectLink(a.key)), h("div", { class: "muted" }, a.summary || reasonOf(a))),
      h("td", null, h("span", { class: "tag" }, HELD[a.status] || a.status)),
      h("td", { class: "mono" }, fmtTime(a.since)),
      h("td", { class: "reason" }, a.suppressed_by || "")));
  }
  return replace(root, el);
}

export function renderDeliveries(root, deliveries) {
  if (!deliveries.length) return replace(root, h("p", { class: "empty" }, t("No notification sent yet.")));
  const { el, body } = table([
    { title: t("Created ({zone})", { zone: ZONE }), col: "c-time" }, { title: t("Receiver"), col: "c-since" },
    { title: t("Alert") }, { title: t("Outcome"), col: "c-state" }, { title: t("Attempts"), col: "c-num", class: "num" },
    { title: t("Last error") }, { title: t("Delivered / next try ({zone})", { zone: ZONE }), col: "c-time" },
  ]);
  for (const d of deliveries) {
    const state = OUTCOME_CLASS[d.outcome] || "unknown";
    body.append(h("tr", { dataset: { event: d.event_id, receiver: d.receiver, outcome: d.outcome } },
      h("td", { class: "mono" }, fmtTime(d.created_at)),
      h("td", { class: "receiver" }, d.receiver),
      h("td", null, subjectLink(d.key)),
      h("td", null, h("span", { class: `badge ${state}`, dataset: { state } }, outcomeLabel(d.outcome))),
      h("td", { class: "num" }, d.attempts),
      h("td", { class: "reason error-text" }, d.last_error || ""),
      h("td", { class: "mono" }, d.delivered_at ? fmtTime(d.delivered_at)
        : d.next_attempt_at ? h("span", { class: "muted", title: t("next attempt") }, fmtTime(d.next_attempt_at)) : "—")));
  }
  return replace(root, el);
}

// Every configured receiver, plus any the outbox still names: waiting notifications and last error.
// failing: failingReceivers()'s answer (the ones failing now).
export function renderReceivers(root, alerts, failing) {
  const kinds = Object.fromEntries(alerts.receivers.map((r) => [r.name, r.kind]));
  const names = [...new Set([...Object.keys(kinds), ...Object.keys(alerts.outbox.depth),
    ...Object.keys(alerts.outbox.last_errors)])].sort();
  if (!names.length) return replace(root, h("p", { class: "empty" }, t("No receiver is configured.")));
  const failingNow = new Map(failing.map((f) => [f.receiver, f.error]));
  const { el, body } = table([
    { title: t("Receiver"), col: "c-since" }, { title: t("Kind"), col: "c-kind" }, { title: t("Now"), col: "c-kind" },
    { title: t("Waiting"), col: "c-num", class: "num" }, { title: t("Last error") },
  ]);
  for (const name of names) {
    const bad = failingNow.has(name);
    body.append(h("tr", { dataset: { receiver: name } },
      h("td", null, name), h("td", null, kinds[name] || "—"),
      h("td", null, h("span", { class: `badge ${bad ? "down" : "up"}` }, bad ? t("failing") : t("ok"))),
      h("td", { class: "num depth" }, alerts.outbox.depth[name] || 0),
      h("td", { class: "reason last-error" }, alerts.outbox.last_errors[name] || "")));
  }
  return replace(root, el);
}

function matchersText(matchers) {
  return Object.entries(matchers).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("|") : v}`).join(" ");
}

// silences: SilenceOut list; onEnd(id) ends an API silence (config ones live in the file).
export function renderSilences(root, silences, { onEnd }) {
  if (!silences.length) return replace(root, h("p", { class: "empty" }, t("No silence in force or to come.")));
  const { el, body } = table([
    { title: t("Matchers") }, { title: t("From ({zone})", { zone: ZONE }), col: "c-time" },
    { title: t("Until ({zone})", { zone: ZONE }), col: "c-time" },
    { title: t("Comment") }, { title: t("By"), col: "c-kind" }, { title: "", col: "c-since" },
  ]);
  for (const s of silences) {
    body.append(h("tr", { dataset: { silence: s.id } },
      h("td", { class: "reason mono" }, matchersText(s.matchers)),
      h("td", { class: "mono" }, fmtTime(s.starts_at)),
      h("td", { class: "mono" }, fmtTime(s.ends_at)),
      h("td", { class: "reason" }, s.comment,
        s.active ? null : h("span", { class: "tag" }, t("to come"))),
      h("td", null, s.created_by || "—"),
      h("td", null, s.source === "api"
        ? h("button", { type: "button", class: "btn end-silence", onclick: (e) => onEnd(s.id, e.target) }, t("End now"))
        : h("span", { class: "muted", title: t("from the config file: edit it there") }, t("config")))));
  }
  return replace(root, el);
}
