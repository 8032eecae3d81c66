// Maintenance windows open now or coming: title, times, what they cover. From /api/v1/maintenance
// (internal pages: with the reason) or the public page's /status/data (title, times, components).
import { fmtTime, h, replace } from "../lib/dom.js";
import { t, ZONE } from "../lib/i18n.js";
import { maintenanceComing } from "../lib/api.js";

// titles: name → title of the components listed (the public page lists names, not patterns).
export function renderMaintenance(root, windows, { reasons = true, titles = null } = {}) {
  root.classList.toggle("hidden", !windows.length);
  if (!windows.length) {
    replace(root);
    return;
  }
  const items = windows.map((w) => {
    const comps = (w.components || []).map((c) => (titles && titles.get(c)) || c);
    const covers = [...comps, ...(w.checks || [])].join(", ");
    return h("li", { class: w.active ? "maint active" : "maint", dataset: { window: w.name || w.title } },
      h("b", null, w.active ? t("In maintenance:") : t("Planned maintenance:")), " ", w.name || w.title, " · ",
      h("span", { class: "mono" }, `${fmtTime(w.start, { seconds: false })} → ${fmtTime(w.end, { seconds: false })} ${ZONE}`),
      covers ? h("span", { class: "muted" }, ` · ${covers}`) : "",
      reasons && w.reason ? h("span", { class: "muted reason" }, ` · ${w.reason}`) : "");
  });
  replace(root, h("ul", { class: "maintenance-list" }, items));
}

// params: {component, check}
export async function loadMaintenance(root, params = {}) {
  renderMaintenance(root, await maintenanceComing(params));
}
