// The platform-wide list of state changes in a window, newest first; a change's time replays it.
import { badge, checkHref, componentHref, componentName, fmtTime, h, replace, table } from "../lib/dom.js";
import { t, ZONE } from "../lib/i18n.js";

export function renderChanges(root, changes, onPick) {
  if (!changes.length) {
    replace(root, h("p", { class: "empty" }, t("No state changed in this window.")));
    return;
  }
  const { el, body } = table([
    { title: t("Time ({zone})", { zone: ZONE }), col: "c-time" }, { title: t("Kind"), col: "c-kind" },
    { title: t("Subject") }, { title: t("Change") }, { title: t("Reason") },
  ]);
  for (const c of changes) {
    const href = c.kind === "check" ? checkHref(c.subject) : componentHref(c.subject);
    body.append(h("tr", { dataset: { time: c.time } },
      h("td", null, h("a", {
        href: "#", class: "mono", title: t("replay this instant"),
        onclick: (e) => { e.preventDefault(); onPick(Date.parse(c.time)); },
      }, fmtTime(c.time))),
      h("td", { class: "muted" }, c.kind === "check" ? t("check") : t("component")),
      h("td", null, c.kind === "check" ? h("a", { href }, c.subject) : componentName(c.subject, c.title, { href })),
      h("td", null, badge(c.old), " → ", badge(c.new)),
      h("td", { class: "reason" }, c.reason || "")));
  }
  replace(root, el);
}
