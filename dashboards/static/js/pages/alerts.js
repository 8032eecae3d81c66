// Alerts: firing, held back, deliveries and receivers, silences and maintenance, refreshed in place;
// acknowledge, silence, end a silence and add a maintenance window with the API token, no reload.
import { AsOfClock } from "../lib/asof.js";
import { alertsNow, failingReceivers, maintenanceComing } from "../lib/api.js";
import { fromInputValue, toInputValue } from "../lib/dom.js";
import { t, tn } from "../lib/i18n.js";
import { Poller, refreshMs } from "../lib/fetch.js";
import { operator, sessionCsrf, token, write } from "../lib/writes.js";
import { renderMaintenance } from "../widgets/maintenance.js";
import {
  renderDeliveries, renderFiring, renderReceivers, renderSilences, renderSuppressed,
} from "../widgets/alerts.js";

const REFRESH_MS = refreshMs(5000);
const byId = (id) => document.getElementById(id);
const clock = new AsOfClock();

// -- messages and the token ---------------------------------------------------------------------
function say(text, { error = false } = {}) {
  const el = byId("write-message");
  el.textContent = text;
  el.className = `note ${error ? "error" : "ok"}`;
}

function paintToken() {
  const set = Boolean(token.get());
  byId("token").value = "";
  byId("token").placeholder = set ? t("set for this tab") : "";
  byId("token-state").textContent = set ? t("Token set for this tab (forgotten when it closes).")
    : t("No token: writes are refused.");
  byId("token-forget").disabled = !set;
  byId("operator").value = operator.get();
}

byId("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = byId("token").value.trim();
  if (value) token.set(value);
  operator.set(byId("operator").value.trim());
  paintToken();
  say(value ? t("Token set.") : t("Name saved."));
});
byId("token-forget").addEventListener("click", () => {
  token.forget();
  paintToken();
  say(t("Token forgotten."));
});
if (sessionCsrf()) { // signed in: writes go with the session, under the user's name
  const who = document.querySelector('meta[name="signed-in"]');
  byId("token-form").classList.add("hidden");
  byId("actions-sub").textContent = who.dataset.role === "viewer"
    ? t("as {name}: a viewer reads only; acting needs the operator role", { name: who.content })
    : t("as {name}", { name: who.content });
} else {
  paintToken();
}

// Runs a write: disables `button` meanwhile, says how it went, refreshes the page's data.
async function act(button, what, run) {
  if (button) button.disabled = true;
  try {
    await run();
    say(what);
    await poller.now();
    return true;
  } catch (err) {
    say(err.message, { error: true });
    if (err.status === 401) { // a wrong token: forget it, ask again
      token.forget();
      paintToken();
    }
    if (err.refused) byId("token").focus();
    return false;
  } finally {
    if (button) button.disabled = false;
  }
}

const alertPath = (key) => `/api/v1/alerts/${key.split("/").map(encodeURIComponent).join("/")}/ack`;

function acknowledge(key, button) {
  return act(button, t("Acknowledged {key}: no reminders until it resolves.", { key }),
    () => write("POST", alertPath(key), { by: operator.get() }));
}

function endSilence(id, button) {
  return act(button, t("Silence {id} ended.", { id }), () => write("DELETE", `/api/v1/silences/${encodeURIComponent(id)}`));
}

// -- forms ------------------------------------------------------------------------------------
// "label=value" lines → {label: value}; a label given twice accepts either value. Throws on a bad line.
function parseMatchers(text) {
  const matchers = {};
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf("=");
    const name = line.slice(0, at).trim();
    const value = line.slice(at + 1).trim();
    if (at < 1 || !name || !value) throw new Error(t("Matchers, line {n}: write label=value (got \"{line}\").", { n: i + 1, line }));
    const had = matchers[name];
    matchers[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
  }
  if (!Object.keys(matchers).length) throw new Error(t("Matchers: give at least one label=value."));
  return matchers;
}

// {duration} or {[endKey]: ISO} from a "for" text field and an "until" time field (the page's zone).
function windowEnd(durationInput, endInput, endKey) {
  const duration = durationInput.value.trim();
  const end = fromInputValue(endInput.value);
  if (Boolean(duration) === (end !== null)) throw new Error(t("Give either a duration (like 2h) or an end time."));
  return duration ? { duration } : { [endKey]: new Date(end).toISOString() };
}

function patterns(text) {
  return text.split(",").map((p) => p.trim()).filter(Boolean);
}

// A form that writes in place: build() its body (throwing on bad input), send() it, then reset
// the form and call after() (the fields a reset clears but the next entry needs).
function onSubmit(form, what, build, send, after = () => {}) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let body;
    try {
      body = build();
    } catch (err) {
      say(err.message, { error: true });
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    if (await act(button, what, () => send(body))) {
      form.reset();
      after();
    }
  });
}

onSubmit(byId("silence-form"), t("Silence added."), () => ({
  matchers: parseMatchers(byId("silence-matchers").value),
  ...windowEnd(byId("silence-duration"), byId("silence-end"), "ends_at"),
  comment: byId("silence-comment").value.trim(),
  created_by: operator.get(),
}), (body) => write("POST", "/api/v1/silences", body));

const startNow = () => { byId("maintenance-start").value = toInputValue(Date.now(), { seconds: false }); };
startNow();
onSubmit(byId("maintenance-form"), t("Maintenance window added."), () => {
  const start = fromInputValue(byId("maintenance-start").value);
  if (start === null) throw new Error(t("Maintenance: give a start time."));
  const body = {
    reason: byId("maintenance-reason").value.trim(),
    components: patterns(byId("maintenance-components").value),
    checks: patterns(byId("maintenance-checks").value),
    start: new Date(start).toISOString(),
    ...windowEnd(byId("maintenance-duration"), byId("maintenance-end"), "end"),
  };
  if (!body.components.length && !body.checks.length) throw new Error(t("Maintenance: name components or checks."));
  const name = byId("maintenance-name").value.trim();
  return name ? { name, ...body } : body;
}, (body) => write("POST", "/api/v1/maintenance", body), startNow);

// -- live data --------------------------------------------------------------------------------
function paint(alerts, windows) {
  renderFiring(byId("firing"), alerts.firing, { onAck: acknowledge });
  const acked = alerts.firing.filter((a) => a.acknowledged_by).length;
  byId("firing-count").textContent = tn("{n} alert firing", "{n} alerts firing", alerts.firing.length) +
    (acked ? " · " + t("{n} acknowledged", { n: acked }) : "");
  const failing = failingReceivers(alerts);
  renderReceivers(byId("receivers"), alerts, failing);
  renderDeliveries(byId("deliveries"), alerts.deliveries);
  byId("deliveries-count").textContent = t("newest {n}", { n: alerts.deliveries.length });
  renderSuppressed(byId("suppressed"), alerts.silenced, alerts.covered);
  renderSilences(byId("silences"), alerts.silences, { onEnd: endSilence });
  renderMaintenance(byId("maintenance"), windows);
  const empty = byId("maintenance-empty");
  empty.textContent = t("No maintenance now or in the next 7 days.");
  empty.classList.toggle("hidden", windows.length > 0);
}

const poller = new Poller(async () => {
  const [alerts, windows] = await Promise.all([alertsNow(), maintenanceComing()]);
  paint(alerts, windows);
  byId("load-error").classList.add("hidden");
  clock.set(alerts.as_of);
}, REFRESH_MS, (err) => {
  const el = byId("load-error");
  el.textContent = t("Could not refresh: {error}", { error: err.message });
  el.classList.remove("hidden");
  clock.fail();
});
poller.start();
