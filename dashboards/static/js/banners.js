// Every internal page's warnings above its content, refreshed in place: receivers whose alert
// deliveries are failing (/api/v1/alerts), and a running config that is not the file on disk
// (/api/v1/config/status: a refused reload with its reason). Text only.
import { alertsNow, configStatus, failingReceivers } from "./lib/api.js";
import { fmtZoned, h, replace } from "./lib/dom.js";
import { t } from "./lib/i18n.js";
import { Poller, refreshMs } from "./lib/fetch.js";

const REFRESH_MS = refreshMs(10000);
const root = document.getElementById("ops-banners");

function seeAlerts() {
  return [" — ", t("see"), " ", h("a", { href: "/alerts" }, t("Alerts"))];
}

export function receiverBanners(alerts) {
  return failingReceivers(alerts).map(({ receiver, error }) => h("div",
    { class: "banner down ops-banner", role: "alert", dataset: { banner: "receiver", receiver } },
    h("span", null, t("Alert deliveries to {receiver} are failing:", { receiver }), " ",
      h("span", { class: "banner-reason" }, error),
      seeAlerts())));
}

// A file edited a moment ago is reloaded within 2 s: "not reloaded yet" waits for a second look.
let changedBefore = false;

export function configBanner(status) {
  const last = status.last_reload;
  const refused = last && last.outcome === "failure";
  const pending = !refused && status.file === "changed";
  const wait = pending && !changedBefore;
  changedBefore = pending;
  if (wait || (!refused && (status.file === null || status.file === "applied"))) return null;
  const file = status.path || t("the config file");
  let head;
  if (refused) {
    head = status.file === "applied"
      ? t("Config reload refused at {time}: the service runs its previous config.", { time: fmtZoned(last.at) })
      : t("Config reload refused at {time}: the service runs its previous config, not {file} as it is on disk.",
        { time: fmtZoned(last.at), file });
  } else if (status.file === "unreadable") {
    head = t("{file} cannot be read: the service runs the config it last loaded.", { file });
  } else {
    head = t("{file} on disk differs from the running config: not reloaded yet.", { file });
  }
  return h("div", { class: "banner degraded ops-banner", role: "alert", dataset: { banner: "config" } },
    h("div", null, h("div", null, head),
      refused && last.reason ? h("pre", { class: "banner-reason" }, last.reason) : null));
}

async function refresh() {
  const [alerts, status] = await Promise.allSettled([alertsNow(), configStatus()]);
  // a read that failed keeps what it showed (the page itself says when the service is away)
  const keep = (kind) => [...root.querySelectorAll(`[data-banner="${kind}"]`)];
  const receivers = alerts.status === "fulfilled" ? receiverBanners(alerts.value) : keep("receiver");
  const config = status.status === "fulfilled" ? [configBanner(status.value)] : keep("config");
  replace(root, receivers, config);
}

if (root) new Poller(refresh, REFRESH_MS).start();
