// Daily uptime bars (90 UTC days by default), one per component or check, with a tooltip per day.
// Data: /api/v1/overview and /api/v1/checks/{id}/daily (internal pages) or the public page's /status/data (`setData`).
import { fmtDuration, fmtPercent, h, stateLabel } from "../lib/dom.js";
import { t, tn } from "../lib/i18n.js";
import { getTooltip } from "../lib/tooltip.js";
import { uptimeBars } from "../lib/api.js";

const SVG = "http://www.w3.org/2000/svg";
const CELL = 10; // viewBox units per day
const GAP = 2;
const HEIGHT = 22;

export class UptimeBars {
  // kind: "component" | "check"; names: null for every current component.
  constructor({ kind = "component", names = null, onError = () => {} } = {}) {
    this.kind = kind;
    this.names = names;
    this.onError = onError;
    this.data = null;
    this.slots = new Map();
  }

  async load() {
    try {
      this.setData(await uptimeBars({ kind: this.kind, names: this.names }));
    } catch (err) {
      this.onError(err);
      throw err;
    }
  }

  setData(data) {
    this.data = data;
    for (const [name, slot] of this.slots) this.paint(name, slot);
  }

  // Draw `name`'s bar into `barEl` (and its overall uptime into `pctEl`) now and on every load.
  attach(name, barEl, pctEl = null) {
    const slot = { barEl, pctEl };
    this.slots.set(name, slot);
    if (this.data) this.paint(name, slot);
  }

  detach(name) {
    this.slots.delete(name);
  }

  paint(name, { barEl, pctEl }) {
    const days = (this.data.series || {})[name];
    const total = (this.data.uptime || {})[name];
    if (pctEl) {
      pctEl.textContent = fmtPercent(total ?? null);
      pctEl.title = t("uptime over {days} days (time not down / time measured, maintenance left out)",
        { days: this.data.days });
    }
    if (!days) {
      barEl.replaceChildren();
      return;
    }
    barEl.replaceChildren(bar(name, days, total));
  }
}

function bar(name, days, total) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "uptime");
  svg.setAttribute("viewBox", `0 0 ${days.length * CELL} ${HEIGHT}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("{name}: {percent} uptime over {days} days",
    { name, percent: fmtPercent(total ?? null), days: days.length }));
  days.forEach((day, i) => {
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", String(i * CELL));
    rect.setAttribute("y", "0");
    rect.setAttribute("width", String(CELL - GAP));
    rect.setAttribute("height", String(HEIGHT));
    rect.setAttribute("class", day.worst);
    rect.dataset.date = day.date;
    rect.addEventListener("mouseenter", (e) => getTooltip().show(e, dayFigures(name, day)));
    rect.addEventListener("mousemove", (e) => getTooltip().move(e));
    rect.addEventListener("mouseleave", () => getTooltip().hide());
    svg.append(rect);
  });
  return svg;
}

// The tooltip's lines for one day: the date, uptime, and time per state other than up.
function dayFigures(name, day) {
  const seconds = day.seconds || {};
  const lines = [
    h("b", null, `${day.date} (UTC) · ${name}`),
    h("div", null, uptimeLine(day, seconds)),
  ];
  for (const state of ["down", "degraded", "unknown", "maintenance"]) {
    if (seconds[state]) lines.push(h("div", { class: "muted" }, `${stateLabel(state)}: ${fmtDuration(seconds[state])}`));
  }
  if (day.incidents) lines.push(h("div", { class: "muted" }, tn("{n} incident", "{n} incidents", day.incidents)));
  return lines;
}

// Why a day has no uptime: nothing was judged (unknown), all of it was maintenance, or the
// component or check did not exist yet (no data).
function uptimeLine(day, seconds) {
  if (day.uptime !== null) return t("uptime {percent}", { percent: fmtPercent(day.uptime, 3) });
  if (day.worst === "unknown") return t("unknown: nothing measured");
  return seconds.maintenance ? t("maintenance all day: nothing measured") : t("no data: not monitored then");
}
