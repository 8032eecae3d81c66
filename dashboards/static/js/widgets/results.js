// A check's most recent stored results (time, state, latency, reason): /api/v1/checks/{id}/results.
// A heartbeat's finish carries the body its job sent (a log tail): shown as text, never as HTML.
import { apiCheckPath, badge, fmtLatency, fmtTime, h, replace, table } from "../lib/dom.js";
import { getJSON } from "../lib/fetch.js";
import { t, ZONE } from "../lib/i18n.js";

const SHOWN = 100; // results listed, newest first

export class RecentResults {
  constructor(root, countEl, checkId) {
    this.root = root;
    this.countEl = countEl;
    this.url = `${apiCheckPath(checkId)}/results?limit=${SHOWN}`;
  }

  async load() {
    let rows;
    try {
      rows = await getJSON(this.url);
    } catch (err) {
      replace(this.root, h("p", { class: "error" }, t("Could not load results: {error}", { error: err.message })));
      throw err;
    }
    if (!rows.length) {
      replace(this.root, h("p", { class: "empty" }, t("No stored results yet.")));
      this.countEl.textContent = "";
      return;
    }
    const { el, body } = table([
      { title: t("Time ({zone})", { zone: ZONE }), col: "c-time" }, { title: t("State"), col: "c-state" },
      { title: t("Latency"), col: "c-latency", class: "num" }, { title: t("Reason") },
    ]);
    for (const r of rows) {
      body.append(h("tr", null,
        h("td", { class: "mono" }, fmtTime(r.time)), h("td", null, badge(r.status)),
        h("td", { class: "num" }, fmtLatency(r.latency)), h("td", { class: "reason" }, r.reason || "", pingBody(r))));
    }
    replace(this.root, h("div", { class: "scroll" }, el));
    this.countEl.textContent = t("latest {n}", { n: rows.length });
  }
}

function pingBody(result) {
  const body = result.details && result.details.body;
  if (typeof body !== "string" || !body) return null;
  return h("details", { class: "ping-body", open: result.status === "down" }, h("summary", null, t("ping body")), h("pre", null, body));
}
