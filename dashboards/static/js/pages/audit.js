// Audit: the newest writes, sign-ins and sign-outs from /api/v1/audit, refreshed in place.
import { AsOfClock } from "../lib/asof.js";
import { fmtTime, h, replace, table } from "../lib/dom.js";
import { getDated, Poller, refreshMs } from "../lib/fetch.js";
import { t } from "../lib/i18n.js";

const REFRESH_MS = refreshMs(10000);
const byId = (id) => document.getElementById(id);
const clock = new AsOfClock();
const OUTCOME_CLASS = { success: "up", refused: "degraded", failure: "down" };

function paint(rows) {
  byId("audit-count").textContent = t("newest {count}", { count: rows.length });
  if (!rows.length) return replace(byId("audit"), h("p", { class: "empty" }, t("Nothing recorded yet.")));
  const { el, body } = table([
    { title: t("When"), col: "c-time" }, { title: t("Who") }, { title: t("Credential") }, { title: t("What") },
    { title: t("From") }, { title: t("Outcome") },
  ]);
  for (const r of rows) {
    body.append(h("tr", { dataset: { actor: r.actor, outcome: r.outcome } },
      h("td", { class: "mono" }, fmtTime(r.at)),
      h("td", null, r.actor, r.role ? h("span", { class: "muted" }, ` (${r.role})`) : null),
      h("td", { class: "mono" }, r.credential),
      h("td", { class: "mono reason" }, h("div", null, r.action), h("div", { class: "muted" }, r.target)),
      h("td", { class: "mono" }, r.address),
      h("td", null, h("span", { class: `tag ${OUTCOME_CLASS[r.outcome] || ""}` }, `${r.outcome} ${r.status}`),
        r.detail ? h("div", { class: "muted" }, r.detail) : null)));
  }
  return replace(byId("audit"), el);
}

new Poller(async () => {
  const { data, asOf } = await getDated("/api/v1/audit?limit=200");
  paint(data);
  byId("load-error").classList.add("hidden");
  clock.set(asOf);
}, REFRESH_MS, (err) => {
  const el = byId("load-error");
  el.textContent = t("Could not refresh: {error}", { error: err.message });
  el.classList.remove("hidden");
  clock.fail();
}).start();
