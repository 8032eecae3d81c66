// The public status page: components, their states, 90-day uptime bars and recent incidents,
// all from /status/data (which carries no checks, URLs, reasons or settings).
import { AsOfClock } from "../lib/asof.js";
import { badge, h, replace, setBadge, since, stateLabel } from "../lib/dom.js";
import { getJSON, Poller, refreshMs } from "../lib/fetch.js";
import { renderIncidents } from "../widgets/incidents.js";
import { renderMaintenance } from "../widgets/maintenance.js";
import { UptimeBars } from "../widgets/uptime.js";

const REFRESH_MS = refreshMs(30000);
const PUBLIC_WORDS = { up: "operational", down: "outage" }; // what outsiders read on status pages
const byId = (id) => document.getElementById(id);
const clock = new AsOfClock();
const uptime = new UptimeBars({ kind: "component" });
const rows = new Map();

function row(name) {
  const parts = {
    name: h("span", { class: "name" }, name),
    since: h("span", { class: "muted" }),
    pct: h("span", { class: "uptime-pct muted" }),
    state: badge("nodata"),
    bar: h("div"),
  };
  const el = h("div", { class: "component", dataset: { component: name } },
    h("div", { class: "component-line" }, parts.name, parts.since, parts.pct, parts.state), parts.bar);
  uptime.attach(name, parts.bar, parts.pct);
  return { el, parts };
}

function paintBanner(components) {
  const notUp = components.filter((c) => c.status === "down" || c.status === "degraded");
  const banner = byId("banner");
  if (!components.length) {
    banner.className = "banner nodata";
    replace(banner, "No components are monitored yet.");
  } else if (!notUp.length) {
    banner.className = "banner up";
    replace(banner, badge("up", "operational"), "All systems operational");
  } else {
    const worst = notUp.some((c) => c.status === "down") ? "down" : "degraded";
    banner.className = `banner ${worst}`;
    replace(banner, badge(worst), `${notUp.length} of ${components.length} components ${worst === "down" ? "have problems" : "are degraded"}`);
  }
}

new Poller(async () => {
  const data = await getJSON("/status/data");
  const now = Date.parse(data.as_of);
  const list = byId("components");
  const seen = new Set();
  for (const comp of data.components) {
    seen.add(comp.name);
    if (!rows.has(comp.name)) rows.set(comp.name, row(comp.name));
    const { el, parts } = rows.get(comp.name);
    setBadge(parts.state, comp.status, PUBLIC_WORDS[comp.status] || stateLabel(comp.status));
    parts.since.textContent = comp.since ? since(comp.since, now) : "";
    list.append(el);
  }
  for (const [name, { el }] of rows) if (!seen.has(name)) { el.remove(); rows.delete(name); uptime.detach(name); }
  uptime.setData(data.uptime);
  paintBanner(data.components);
  renderIncidents(byId("incidents"), data.incidents, {
    links: false, checks: false, reasons: false, alerts: false, empty: "No incidents in the last 30 days.",
  });
  renderMaintenance(byId("maintenance"), data.maintenance, { reasons: false });
  clock.set(data.as_of);
}, REFRESH_MS, () => clock.fail()).start();
