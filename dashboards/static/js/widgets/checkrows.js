// A table of checks (state, name, kind, since, latency, reason) updated in place by id, so a
// refresh changes only what changed and the reader keeps their place.
import { badge, checkHref, fmtLatency, fmtZoned, h, setBadge, since, table } from "../lib/dom.js";
import { t } from "../lib/i18n.js";

export class CheckRows {
  constructor({ latency = true, fullId = false } = {}) {
    this.latency = latency;
    this.fullId = fullId;
    const columns = [
      { title: t("State"), col: "c-state" },
      { title: t("Check") },
      { title: t("Kind"), col: "c-kind" },
      { title: t("Since"), col: "c-since" },
      latency ? { title: t("Latency"), col: "c-latency", class: "num" } : null,
      { title: t("Reason") },
    ].filter(Boolean);
    const { el, body } = table(columns);
    this.el = el;
    this.body = body;
    this.rows = new Map();
  }

  update(checks, now = Date.now()) {
    const seen = new Set();
    let previous = null;
    for (const check of checks) {
      seen.add(check.id);
      let row = this.rows.get(check.id);
      if (!row) {
        row = this.create(check);
        this.rows.set(check.id, row);
      }
      this.fill(row, check, now);
      const wanted = previous ? previous.nextSibling : this.body.firstChild;
      if (wanted !== row.tr) this.body.insertBefore(row.tr, wanted);
      previous = row.tr;
    }
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        this.rows.delete(id);
      }
    }
  }

  create(check) {
    const cells = {
      state: h("td", null, badge(check.status)),
      name: h("td", null, h("a", { href: checkHref(check.id), title: check.id }, this.fullId ? check.id : check.name)),
      kind: h("td", { class: "muted" }, check.kind),
      since: h("td"),
      latency: this.latency ? h("td", { class: "num" }) : null,
      reason: h("td", { class: "reason" }),
    };
    const tr = h("tr", { dataset: { check: check.id } }, Object.values(cells));
    return { tr, cells, key: "" };
  }

  fill(row, check, now) {
    const key = [check.status, check.since, check.reason, check.latency].join("\u0000");
    const { cells } = row;
    if (key !== row.key) {
      setBadge(cells.state.firstChild, check.status);
      cells.reason.textContent = check.reason || "";
      cells.reason.title = check.reason || "";
      if (cells.latency) cells.latency.textContent = fmtLatency(check.latency);
      cells.since.title = check.since ? fmtZoned(check.since) : "";
      row.key = key;
    }
    cells.since.textContent = check.since ? since(check.since, now) : "—";
  }
}
