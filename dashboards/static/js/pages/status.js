// The public status page: components by title under their groups' headings, their states, 90-day
// uptime bars and recent incidents, all from /status/data (no checks, URLs, reasons or settings).
import { AsOfClock } from "../lib/asof.js";
import { badge, h, replace, setBadge, since, stateLabel, worstState } from "../lib/dom.js";
import { t, tn } from "../lib/i18n.js";
import { getJSON, Poller, refreshMs } from "../lib/fetch.js";
import { renderIncidents } from "../widgets/incidents.js";
import { renderMaintenance } from "../widgets/maintenance.js";
import { UptimeBars } from "../widgets/uptime.js";

const REFRESH_MS = refreshMs(30000);
const PUBLIC_WORDS = { up: t("operational"), down: t("outage") }; // what outsiders read on status pages
const byId = (id) => document.getElementById(id);
const clock = new AsOfClock();
const uptime = new UptimeBars({ kind: "component" });
const rows = new Map(); // component name → its row
const sections = new Map(); // group ("" for the ungrouped) → its section

function row(name) {
  const parts = {
    name: h("span", { class: "name" }),
    since: h("span", { class: "muted" }),
    pct: h("span", { class: "uptime-pct muted" }),
    state: badge("nodata"),
    description: h("p", { class: "description hidden" }),
    bar: h("div"),
  };
  const el = h("div", { class: "component", dataset: { component: name } },
    h("div", { class: "component-line" }, parts.name, parts.since, parts.pct, parts.state), parts.description,
    parts.bar);
  uptime.attach(name, parts.bar, parts.pct);
  return { el, parts };
}

// A group's section: a heading with the group's worst state; the ungrouped have no heading.
function section(group) {
  const state = badge("nodata");
  const head = group ? h("div", { class: "group-line" }, h("h2", null, group), state) : null;
  const body = h("div", { class: "group-components" });
  return { el: h("section", { class: "component-group", dataset: { group } }, head, body), body, state };
}

// Components in the data's order (ungrouped first, then groups as the config lists them).
function paintComponents(components, now) {
  const byGroup = new Map();
  for (const comp of components) {
    const group = comp.group || "";
    if (!byGroup.has(group)) byGroup.set(group, []);
    byGroup.get(group).push(comp);
  }
  const list = byId("components");
  for (const [group, comps] of byGroup) {
    if (!sections.has(group)) sections.set(group, section(group));
    const sec = sections.get(group);
    const state = worstState(comps.map((c) => c.status));
    setBadge(sec.state, state, PUBLIC_WORDS[state] || stateLabel(state));
    for (const comp of comps) {
      if (!rows.has(comp.name)) rows.set(comp.name, row(comp.name));
      const { el, parts } = rows.get(comp.name);
      parts.name.textContent = comp.title || comp.name;
      parts.description.textContent = comp.description || "";
      parts.description.classList.toggle("hidden", !comp.description);
      setBadge(parts.state, comp.status, PUBLIC_WORDS[comp.status] || stateLabel(comp.status));
      parts.since.textContent = comp.since ? since(comp.since, now) : "";
      sec.body.append(el);
    }
    list.append(sec.el);
  }
  const names = new Set(components.map((c) => c.name));
  for (const [name, { el }] of rows) if (!names.has(name)) { el.remove(); rows.delete(name); uptime.detach(name); }
  for (const [group, { el }] of sections) if (!byGroup.has(group)) { el.remove(); sections.delete(group); }
}

function paintBanner(components) {
  const notUp = components.filter((c) => c.status === "down" || c.status === "degraded");
  const banner = byId("banner");
  if (!components.length) {
    banner.className = "banner nodata";
    replace(banner, t("No components are monitored yet."));
  } else if (!notUp.length) {
    banner.className = "banner up";
    replace(banner, badge("up", t("operational")), t("All systems operational"));
  } else {
    const worst = notUp.some((c) => c.status === "down") ? "down" : "degraded";
    banner.className = `banner ${worst}`;
    const [n, total] = [notUp.length, components.length];
    replace(banner, badge(worst, PUBLIC_WORDS[worst] || stateLabel(worst)), worst === "down"
      ? tn("{count} of {n} component has problems", "{count} of {n} components have problems", total, { count: n })
      : tn("{count} of {n} component is degraded", "{count} of {n} components are degraded", total, { count: n }));
  }
}

new Poller(async () => {
  const data = await getJSON("/status/data");
  paintComponents(data.components, Date.parse(data.as_of));
  const titles = new Map(data.components.map((c) => [c.name, c.title]));
  uptime.setData(data.uptime);
  paintBanner(data.components);
  renderIncidents(byId("incidents"), data.incidents.map((i) => ({ ...i, title: titles.get(i.component) })), {
    links: false, checks: false, reasons: false, alerts: false, empty: t("No incidents in the last 30 days."),
  });
  renderMaintenance(byId("maintenance"), data.maintenance, { reasons: false, titles });
  clock.set(data.as_of);
}, REFRESH_MS, () => clock.fail()).start();
