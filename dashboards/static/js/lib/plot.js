// Drawing a figure built by dashboards/figures.py with plotly.js (served by the service itself),
// in the page's colours (light or dark).
import { fromWall, h, replace } from "./dom.js";
import { t } from "./i18n.js";

const CONFIG = {
  displaylogo: false,
  responsive: true,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
};

function themed(layout) {
  const css = getComputedStyle(document.documentElement);
  const fg = css.getPropertyValue("--fg").trim() || "#1b1f24";
  const panel = css.getPropertyValue("--panel").trim() || "#fff";
  const border = css.getPropertyValue("--border").trim() || "#ddd";
  const out = { ...layout };
  out.font = { ...(layout.font || {}), color: fg };
  out.hoverlabel = { ...(layout.hoverlabel || {}), bgcolor: panel, bordercolor: border, font: { color: fg } };
  return out;
}

function isEmpty(fig) {
  return !fig.data.length || fig.data.every((t) => !(t.x || []).length && !(t.y || []).length);
}

// Draws `fig` into `el`; `emptyText` replaces a figure with no data at all; `onClick(ms)` gets
// the time clicked on a date axis.
export async function renderFigure(el, fig, { emptyText = t("No data in this range."), onClick = null } = {}) {
  if (isEmpty(fig)) {
    if (el.dataset.plotted) window.Plotly.purge(el);
    delete el.dataset.plotted;
    replace(el, h("div", { class: "chart-empty" }, emptyText));
    return;
  }
  if (!el.dataset.plotted) replace(el);
  await window.Plotly.react(el, fig.data, themed(fig.layout || {}), CONFIG);
  if (!el.dataset.plotted && onClick) {
    el.on("plotly_click", (event) => {
      const at = clickedTime(el, event.event);
      if (at !== null) onClick(at);
    });
  }
  el.dataset.plotted = "1";
}

// The x-axis time (ms) under the mouse: a bar's own x is its length, not where it was clicked.
// Our figures put the page's wall clock (naive times in its zone, the `tz` the figure was asked
// for) on date axes: plotly's calendar ms are that wall clock, turned back into an instant.
function clickedTime(el, mouse) {
  const layout = el._fullLayout;
  if (!layout || !mouse || !layout.xaxis) return null;
  const px = mouse.clientX - el.getBoundingClientRect().left - layout._size.l;
  const ms = layout.xaxis.p2c(px);
  return Number.isFinite(ms) ? fromWall(ms) : null;
}

export function figureNotes(fig) {
  const meta = (fig.layout && fig.layout.meta) || {};
  return Array.isArray(meta.notes) ? meta.notes : [];
}

export function showError(el, err) {
  if (el.dataset.plotted) window.Plotly.purge(el);
  delete el.dataset.plotted;
  replace(el, h("div", { class: "chart-empty error" }, t("Could not load: {error}", { error: err.message })));
}
