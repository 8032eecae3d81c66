// Incidents as a table (component by its title, worst state, start, end, duration, checks involved, reason)
// and what was alerted (events, receivers, outcomes) from /api/v1/incidents?alerts=true; the public page passes
// rows without checks, reasons or alerts.
import { badge, checkHref, componentHref, componentName, fmtDuration, fmtTime, h, replace, table } from "../lib/dom.js";
import { t, ZONE } from "../lib/i18n.js";

const CHECKS_LISTED = 6; // check links per incident before "+N more"

export function renderIncidents(root, incidents, { links = true, checks = true, reasons = true, alerts = true,
  empty = t("No incidents in this range.") } = {}) {
  if (!incidents.length) {
    replace(root, h("p", { class: "empty" }, empty));
    return;
  }
  const columns = [
    { title: t("Component") }, { title: t("Worst"), col: "c-state" },
    { title: t("Started ({zone})", { zone: ZONE }), col: "c-time" },
    { title: t("Ended ({zone})", { zone: ZONE }), col: "c-time" }, { title: t("Duration"), col: "c-dur", class: "num" },
    checks ? { title: t("Checks involved") } : null, reasons ? { title: t("First reason") } : null,
    alerts ? { title: t("Alerted") } : null,
  ].filter(Boolean);
  const { el, body } = table(columns);
  for (const i of incidents) {
    const name = componentName(i.component, i.title, { href: links ? componentHref(i.component) : null, hint: links });
    const cells = [
      h("td", { dataset: { component: i.component } }, name), h("td", null, badge(i.worst)), h("td", { class: "mono" }, fmtTime(i.start)),
      h("td", { class: i.end ? "mono" : "" }, i.end ? fmtTime(i.end) : badge(i.worst, t("ongoing"))),
      h("td", { class: "num" }, fmtDuration(i.duration)),
    ];
    if (checks) {
      const list = i.checks || [];
      const shown = list.slice(0, CHECKS_LISTED).flatMap((id, n) => [n ? ", " : "", h("a", { href: checkHref(id) }, id)]);
      const more = list.length > CHECKS_LISTED ? " " + t("+{n} more", { n: list.length - CHECKS_LISTED }) : "";
      cells.push(h("td", { class: "reason" }, list.length ? shown : "—", more));
    }
    if (reasons) cells.push(h("td", { class: "reason" }, i.reason || ""));
    if (alerts) cells.push(h("td", { class: "alerts" }, alertLines(i.alerts || [])));
    body.append(h("tr", null, cells));
  }
  replace(root, el);
}

// Alert events and delivery outcomes as the page's language names them (the API's words otherwise).
const EVENTS = { firing: t("firing"), resolved: t("resolved"), reminder: t("reminder") };
const OUTCOMES = {
  delivered: t("delivered"), pending: t("pending"), failed: t("failed"), expired: t("expired"), rejected: t("rejected"),
  dropped: t("dropped"),
};
export const eventLabel = (type) => EVENTS[type] || type;
export const outcomeLabel = (outcome) => OUTCOMES[outcome] || outcome;

// One line per alert event: type, time, subject (linked to its check), receivers and outcomes.
function alertLines(events) {
  if (!events.length) return "—";
  return events.map((e) => {
    const subject = e.subject_kind === "check" ? h("a", { href: checkHref(e.subject) }, e.subject) : e.subject;
    if (e.type === "acknowledged") {
      return h("div", { class: "alert-line", dataset: { type: e.type } },
        h("b", null, e.type), " ", h("span", { class: "mono" }, fmtTime(e.time)), " ", subject, t(" by {name}", { name: e.by || "—" }));
    }
    const sent = e.receivers.length
      ? ` → ${e.receivers.map((r) => (r.outcome ? `${r.name} (${outcomeLabel(r.outcome)})` : r.name)).join(", ")}`
      : " (" + t("no receiver") + ")";
    const held = e.suppressed_by ? " · " + t("suppressed: {by}", { by: e.suppressed_by }) : "";
    return h("div", { class: "alert-line", dataset: { type: e.type } },
      h("b", null, eventLabel(e.type)), " ", h("span", { class: "mono" }, fmtTime(e.time)), " ", subject, sent, held);
  });
}
