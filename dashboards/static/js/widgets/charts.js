// The latency chart and the state timeline: figures built by the server (/ui/figure/*), drawn
// with plotly.js.
import { getJSON, query } from "../lib/fetch.js";
import { t, ZONE } from "../lib/i18n.js";
import { figureNotes, renderFigure, showError } from "../lib/plot.js";

// params: {check: id | [ids], component, from: ms, to: ms}
export async function loadLatency(el, noteEl, { check = null, component = null, from, to }) {
  const url = `/ui/figure/latency?${query({ check, component, from: new Date(from), to: new Date(to), tz: ZONE })}`;
  try {
    const fig = await getJSON(url);
    await renderFigure(el, fig, { emptyText: t("No results stored in this range.") });
    if (noteEl) noteEl.textContent = figureNotes(fig).join(" · ");
  } catch (err) {
    showError(el, err);
    throw err;
  }
}

// params: {component, check, from: ms, to: ms, at: ms | null}; onClick(time ms) for the replay
export async function loadTimeline(el, { component = null, check = null, from, to, at = null }, onClick = null,
  noteEl = null) {
  const url = `/ui/figure/timeline?${query({
    component, check, from: new Date(from), to: new Date(to), at: at === null ? null : new Date(at), tz: ZONE,
  })}`;
  try {
    const fig = await getJSON(url);
    await renderFigure(el, fig, {
      emptyText: t("No state recorded in this range."),
      onClick,
    });
    if (noteEl) noteEl.textContent = figureNotes(fig).join(" · ");
  } catch (err) {
    showError(el, err);
    throw err;
  }
}
