import { t, ZONE } from "./i18n.js";

// DOM building without HTML parsing: every piece of data becomes a text node or an attribute
// value, never markup, so text from targets (reasons, bodies) can never run or render as HTML.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "href") el.setAttribute("href", localHref(value));
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

// Our links are all same-origin paths; anything else (javascript:, data:) is refused.
function localHref(value) {
  const text = String(value);
  return text.startsWith("/") && !text.startsWith("//") ? text : "#";
}

function pathOf(id) {
  return String(id).split("/").map(encodeURIComponent).join("/");
}
export const checkHref = (id) => `/checks/${pathOf(id)}`;
export const componentHref = (name) => `/components/${pathOf(name)}`;
export const apiCheckPath = (id) => `/api/v1/checks/${pathOf(id)}`;

// A component as people read it: its title (config `components.<name>.title`), then its name as a
// monospace hint when they differ, since operators search and configure by name. With `href`, the
// title links to the component's page; `hint: false` leaves the name out (the public page).
export function componentName(name, title, { href = null, hint = true, props = {} } = {}) {
  const shown = title || name;
  const named = shown !== name;
  const label = h(href ? "a" : "span", { ...props, class: "comp-title", href, title: named ? name : null }, shown);
  return named && hint ? [label, " ", h("span", { class: "mono name-hint" }, name)] : [label];
}

// -- states ---------------------------------------------------------------------------------
export const STATES = ["down", "degraded", "unknown", "up", "nodata"];
const LABELS = {
  up: t("up"), degraded: t("degraded"), down: t("down"), unknown: t("unknown"), nodata: t("no data"),
  maintenance: t("maintenance"),
};
export const SEVERITY = { up: 0, nodata: 1, unknown: 1, degraded: 2, down: 3 };

export function stateLabel(state) {
  return LABELS[state] || String(state);
}

export function badge(state, text) {
  const known = state in LABELS && state !== "maintenance" ? state : "unknown";
  return h("span", { class: `badge ${known}`, dataset: { state: known } }, text ?? stateLabel(state));
}

// The state a set of components shows together (a status page's group): the worst known one,
// unknown only when none is known (the rule a component applies to its checks).
export function worstState(states) {
  const known = states.filter((s) => s !== "unknown" && s !== "nodata");
  if (!known.length) return states.includes("unknown") ? "unknown" : "nodata";
  return known.reduce((a, b) => (SEVERITY[b] > SEVERITY[a] ? b : a));
}

export function setBadge(el, state, text) {
  const known = state in LABELS && state !== "maintenance" ? state : "unknown";
  el.className = `badge ${known}`;
  el.dataset.state = known;
  el.textContent = text ?? stateLabel(state);
}

// -- formatting: times in the page's zone (`ui.timezone`, else the browser's), named beside them ----
const pad = (n, w = 2) => String(n).padStart(w, "0");
const WALL = new Intl.DateTimeFormat("en-US", {
  timeZone: ZONE, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
  minute: "2-digit", second: "2-digit",
});

// The wall clock in ZONE at `ms`: {y, mo, d, h, mi, s}.
function wall(ms) {
  const p = {};
  for (const { type, value } of WALL.formatToParts(new Date(ms))) p[type] = Number(value);
  return { y: p.year, mo: p.month, d: p.day, h: p.hour % 24, mi: p.minute, s: p.second };
}
// ZONE's offset from UTC at `ms`, in ms (east positive).
function offsetAt(ms) {
  const w = wall(ms);
  return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - (ms - (((ms % 1000) + 1000) % 1000));
}
// The instant whose wall clock in ZONE reads `wallMs` (the fields as if UTC); the later one of
// a clock set back, the hour after a gap.
export function fromWall(wallMs) {
  const first = wallMs - offsetAt(wallMs);
  return wallMs - offsetAt(first);
}

// The zone as the pages name it: "Asia/Shanghai (UTC+08:00)".
export function zoneName(ms = Date.now()) {
  const minutes = Math.round(offsetAt(ms) / 60000);
  const sign = minutes < 0 ? "−" : "+";
  const text = `UTC${sign}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
  return ZONE === "UTC" ? "UTC" : `${ZONE} (${text})`;
}

export function fmtTime(value, { seconds = true } = {}) {
  if (value === null || value === undefined) return "—";
  const ms = value instanceof Date ? value.getTime() : new Date(value).getTime();
  if (Number.isNaN(ms)) return "—";
  const w = wall(ms);
  return `${w.y}-${pad(w.mo)}-${pad(w.d)} ${pad(w.h)}:${pad(w.mi)}` + (seconds ? `:${pad(w.s)}` : "");
}

// A time with its zone: in text a reader may copy out of the page (tooltips, banners).
export function fmtZoned(value, options = {}) {
  return `${fmtTime(value, options)} ${ZONE}`;
}

// Duration units: "d h m s" in English, "天 小时 分 秒" in Chinese.
const UNITS = { d: t("d"), h: t("h"), m: t("m"), s: t("s") };

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  let s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const u = UNITS;
  if (d) return hh ? `${d}${u.d} ${hh}${u.h}` : `${d}${u.d}`;
  if (hh) return m ? `${hh}${u.h} ${m}${u.m}` : `${hh}${u.h}`;
  if (m) return s ? `${m}${u.m} ${s}${u.s}` : `${m}${u.m}`;
  return `${s}${u.s}`;
}

export function fmtLatency(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const ms = seconds * 1000;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function fmtPercent(fraction, digits = 2) {
  if (fraction === null || fraction === undefined) return "—";
  const pct = fraction * 100;
  if (pct >= 100) return "100%";
  return `${Math.min(pct, 100 - 10 ** -digits).toFixed(digits)}%`;
}

export function since(iso, now = Date.now()) {
  if (!iso) return "";
  return t("for {duration}", { duration: fmtDuration((now - Date.parse(iso)) / 1000) });
}

// The text of a time field (`YYYY-MM-DD HH:MM[:SS]`, 24-hour, in ZONE as every time on the page),
// and back: the same form whatever the browser's locale.
export function toInputValue(ms, { seconds = true } = {}) {
  return fmtTime(ms, { seconds });
}
export function fromInputValue(text) {
  const m = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$/.exec(text || "");
  if (!m) return null;
  const [y, mo, d, hh, mi, ss] = m.slice(1).map((v) => Number(v || 0));
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mi > 59 || ss > 59) return null;
  return fromWall(Date.UTC(y, mo - 1, d, hh, mi, ss));
}

export function table(columns, className = "rows") {
  const colgroup = h("colgroup", null, columns.map((c) => h("col", { class: c.col || null })));
  const head = h("thead", null, h("tr", null, columns.map((c) => h("th", { class: c.class || null }, c.title))));
  const body = h("tbody");
  return { el: h("table", { class: className }, colgroup, head, body), body };
}

// The labels of time fields in the templates (`data-zone-label`) name the zone the page writes in.
for (const el of document.querySelectorAll("[data-zone-label]")) el.textContent = zoneName();
