// Replay: pick a past instant (date-time input, slider over the window, previous/next change)
// and see the whole platform as it stood then; the window's timeline and its state changes.
import { AsOfClock } from "../lib/asof.js";
import { fmtTime, fmtZoned, fromInputValue, h, replace, toInputValue } from "../lib/dom.js";
import { t, tn, ZONE } from "../lib/i18n.js";
import { changesBetween, liveState, snapshotAt } from "../lib/api.js";
import { fitPreset, RangePicker } from "../lib/range.js";
import { loadTimeline } from "../widgets/charts.js";
import { renderChanges } from "../widgets/changes.js";
import { GroupList } from "../widgets/grouplist.js";

const SLIDER_STEPS = 1000;
const byId = (id) => document.getElementById(id);
const clock = new AsOfClock();
const list = new GroupList({
  groups: byId("groups"), search: byId("search"), filter: byId("state-filter"),
  expandAll: byId("expand-all"), collapseAll: byId("collapse-all"), counts: byId("counts"), banner: byId("banner"),
}, { latency: false, emptyText: t("Nothing was monitored yet at this instant.") });
const input = byId("at-input");
const slider = byId("at-slider");
let at = null;
let shown = 0; // sequence number of snapshot requests
let snap = null; // the snapshot shown: its nearest changes are the step buttons' targets

// The window opens on a range chosen from the data: the latest change of any component in view.
const live = await liveState().catch(() => null);
const latest = live && live.components.length ? Math.max(...live.components.map((c) => Date.parse(c.since) || 0)) : null;
const range = new RangePicker(byId("range"), {
  initial: (live && latest && fitPreset(latest, Date.parse(live.as_of))) || "24h", onChange: () => loadWindow(),
});

function writeUrl() {
  const params = new URLSearchParams(location.search);
  params.set("at", new Date(at).toISOString());
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

function paintControls() {
  const { from, to } = range.get();
  input.value = toInputValue(at);
  slider.value = String(Math.round(((at - from) / (to - from)) * SLIDER_STEPS));
  byId("slider-from").textContent = fmtTime(from, { seconds: false });
  byId("slider-to").textContent = fmtTime(to, { seconds: false });
  byId("replay-at").textContent = `${fmtTime(at)}.${String(at % 1000).padStart(3, "0")} ${ZONE}`;
}

// Show the platform at the current `at` (a slow old answer never overwrites a newer one).
async function showSnapshot() {
  const mine = ++shown;
  try {
    const data = await snapshotAt(at);
    if (mine !== shown) return;
    snap = { at, data };
    list.update(data);
    clock.set(data.as_of, { replay: true });
  } catch (err) {
    replace(byId("groups"), h("p", { class: "error empty" }, t("Could not load the snapshot: {error}", { error: err.message })));
  }
}

// Replay instant `ms`; outside the window, the window moves to centre on it.
async function setAt(ms, { redraw = true } = {}) {
  at = Math.min(Math.round(ms), Date.now());
  const { from, to } = range.get();
  if (at < from || at > to) {
    const span = to - from;
    const end = Math.min(Date.now(), at + span / 2);
    range.set({ from: end - span, to: end }); // its onChange redraws the window around `at`
    redraw = false;
  }
  writeUrl();
  paintControls();
  await Promise.all([showSnapshot(), redraw ? drawTimeline() : null]);
}

async function drawTimeline() {
  const { from, to } = range.get();
  await loadTimeline(byId("timeline"), { from, to, at }, (ms) => setAt(ms)).catch(() => {});
}

async function loadChanges() {
  const { from, to } = range.get();
  try {
    const data = await changesBetween(from, to);
    renderChanges(byId("changes"), data.changes, (ms) => setAt(ms));
    byId("changes-count").textContent = data.truncated
      ? t("{n}+ changes (newest shown)", { n: data.changes.length })
      : tn("{n} change", "{n} changes", data.changes.length);
  } catch (err) {
    replace(byId("changes"), h("p", { class: "error" }, err.message));
  }
}

// A new window: its timeline and changes; an instant left outside it moves to the window's end.
async function loadWindow({ snapshot = false } = {}) {
  const { from, to } = range.get();
  const moved = at === null || at < from || at > to;
  if (moved) at = to;
  writeUrl();
  paintControls();
  await Promise.all([drawTimeline(), loadChanges(), moved || snapshot ? showSnapshot() : null]);
}

async function step(direction) {
  const data = snap && snap.at === at ? snap.data : await snapshotAt(at);
  const target = direction === "previous" ? data.previous_change : data.next_change;
  if (target) await setAt(Date.parse(target));
  else byId("replay-at").textContent += " — " + (direction === "previous" ? t("no earlier change") : t("no later change"));
}

input.addEventListener("change", () => {
  const ms = fromInputValue(input.value);
  if (ms !== null) setAt(ms);
});
slider.addEventListener("input", () => {
  const { from, to } = range.get();
  byId("replay-at").textContent = fmtZoned(from + (to - from) * (Number(slider.value) / SLIDER_STEPS));
});
slider.addEventListener("change", () => {
  const { from, to } = range.get();
  setAt(from + (to - from) * (Number(slider.value) / SLIDER_STEPS));
});
byId("prev-change").addEventListener("click", () => step("previous"));
byId("next-change").addEventListener("click", () => step("next"));
byId("to-now").addEventListener("click", () => {
  at = null; // the new window's end: now
  range.set("24h");
});

const initial = Date.parse(new URLSearchParams(location.search).get("at") || "");
if (Number.isNaN(initial)) {
  await loadWindow({ snapshot: true }); // the window's end
} else {
  at = initial;
  const { from, to } = range.get();
  if (at < from || at > to) await setAt(initial); // moves the window to it
  else await loadWindow({ snapshot: true });
}
