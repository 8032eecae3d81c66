// Incidents as a table (component by its title, worst state, start, end, duration, checks involved, reason)
// and what was alerted (events, receivers, outcomes) from /api/v1/incidents?alerts=true; the public page passes
// rows without checks, reasons or alerts.
import { badge, checkHref, componentHref, componentName, fmtDuration, fmtTime, h, replace, table } from "../lib/dom.js";

const CHECKS_LISTED = 6; // check links per incident before "+N more"

export function renderIncidents(root, incidents, { links = true, checks = true, reasons = true, alerts = true,
  empty = "No incidents in this range." } = {}) {
  if (!incidents.length) {
    replace(root, h("p", { class: "empty" }, empty));
    return;
  }
  const columns = [
    { title: "Component" }, { title: "Worst", col: "c-state" }, { title: "Started (UTC)", col: "c-time" },
    { title: "Ended (UTC)", col: "c-time" }, { title: "Duration", col: "c-dur", class: "num" },
    checks ? { title: "Checks involved" } : null, reasons ? { title: "First reason" } : null,
    alerts ? { title: "Alerted" } : null,
  ].filter(Boolean);
  const { el, body } = table(columns);
  for (const i of incidents) {
    const name = componentName(i.component, i.title, { href: links ? componentHref(i.component) : null, hint: links });
    const cells = [
      h("td", { dataset: { component: i.component } }, name), h("td", null, badge(i.worst)), h("td", { class: "mono" }, fmtTime(i.start)),
      h("td", { class: i.end ? "mono" : "" }, i.end ? fmtTime(i.end) : badge(i.worst, "ongoing")),
      h("td", { class: "num" }, fmtDuration(i.duration)),
    ];
    if (checks) {
      const list = i.checks || [];
      const shown = list.slice(0, CHECKS_LISTED).flatMap((id, n) => [n ? ", " : "", h("a", { href: checkHref(id) }, id)]);
      const more = list.length > CHECKS_LISTED ? ` +${list.length - CHECKS_LISTED} more` : "";
      cells.push(h("td", { class: "reason" }, list.length ? shown : "—", more));
    }
    if (reasons) cells.push(h("td", { class: "reason" }, i.reason || ""));
    if (alerts) cells.push(h("td", { class: "alerts" }, alertLines(i.alerts || [])));
    body.append(h("tr", null, cells));
  }
  replace(root, el);
}

// One line per alert event: type, time, subject (linked to its check), receivers and outcomes.
function alertLines(events) {
  if (!events.length) return "—";
  return events.map((e) => {
    const subject = e.subject_kind === "check" ? h("a", { href: checkHref(e.subject) }, e.subject) : e.subject;
    if (e.type === "acknowledged") {
      return h("div", { class: "alert-line", dataset: { type: e.type } },
        h("b", null, e.type), " ", h("span", { class: "mono" }, fmtTime(e.time)), " ", subject, ` by ${e.by || "—"}`);
    }
    const sent = e.receivers.length
      ? ` → ${e.receivers.map((r) => (r.outcome ? `${r.name} (${r.outcome})` : r.name)).join(", ")}`
      : " (no receiver)";
    const held = e.suppressed_by ? ` · suppressed: ${e.suppressed_by}` : "";
    return h("div", { class: "alert-line", dataset: { type: e.type } },
      h("b", null, e.type), " ", h("span", { class: "mono" }, fmtTime(e.time)), " ", subject, sent, held);
  });
}
