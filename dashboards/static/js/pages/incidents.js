// Incidents: a timeline per component and the list, each incident linked to the checks involved.
import { AsOfClock } from "../lib/asof.js";
import { h, replace } from "../lib/dom.js";
import { t, tn, ZONE } from "../lib/i18n.js";
import { incidentsBetween } from "../lib/api.js";
import { getJSON, Poller, query } from "../lib/fetch.js";
import { renderFigure, showError } from "../lib/plot.js";
import { RangePicker } from "../lib/range.js";
import { renderIncidents } from "../widgets/incidents.js";

const REFRESH_MS = 30000;
const byId = (id) => document.getElementById(id);
const clock = new AsOfClock();
let last = null;

function matches(incident, terms) {
  const hay = `${incident.component} ${incident.title} ${incident.worst} ${incident.checks.join(" ")}`.toLowerCase();
  return terms.every((t) => hay.includes(t));
}

function paint() {
  if (!last) return;
  const terms = byId("search").value.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = last.incidents.filter((i) => matches(i, terms));
  renderIncidents(byId("incidents"), shown);
  const ongoing = shown.filter((i) => !i.end).length;
  byId("incidents-count").textContent = tn("{n} incident", "{n} incidents", shown.length)
    + (ongoing ? " · " + t("{n} ongoing", { n: ongoing }) : "");
}

const range = new RangePicker(byId("range"), { initial: "7d", onChange: () => poller.now() });
const poller = new Poller(async () => {
  const { from, to } = range.get();
  try {
    const [found, figure] = await Promise.all([incidentsBetween(from, to),
      getJSON(`/ui/figure/incidents?${query({ from: new Date(from), to: new Date(to), tz: ZONE })}`)]);
    last = { ...found, figure };
  } catch (err) {
    showError(byId("timeline"), err);
    replace(byId("incidents"), h("p", { class: "error" }, err.message));
    throw err;
  }
  await renderFigure(byId("timeline"), last.figure, { emptyText: t("No incidents in this range.") });
  paint();
  clock.set(last.as_of);
}, REFRESH_MS, () => clock.fail());
byId("search").addEventListener("input", paint);
poller.start();
