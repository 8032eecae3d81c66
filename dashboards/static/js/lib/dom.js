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
const LABELS = { up: "up", degraded: "degraded", down: "down", unknown: "unknown", nodata: "no data" };
export const SEVERITY = { up: 0, nodata: 1, unknown: 1, degraded: 2, down: 3 };

export function stateLabel(state) {
  return LABELS[state] || String(state);
}

export function badge(state, text) {
  const known = state in LABELS ? state : "unknown";
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
  const known = state in LABELS ? state : "unknown";
  el.className = `badge ${known}`;
  el.dataset.state = known;
  el.textContent = text ?? stateLabel(state);
}

// -- formatting (UTC throughout: one clock for an operations team across time zones) -----------
const pad = (n, w = 2) => String(n).padStart(w, "0");

export function fmtTime(value, { seconds = true } = {}) {
  if (value === null || value === undefined) return "—";
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return "—";
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}` + (seconds ? `:${pad(d.getUTCSeconds())}` : "");
  return `${date} ${time}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  let s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return hh ? `${d}d ${hh}h` : `${d}d`;
  if (hh) return m ? `${hh}h ${m}m` : `${hh}h`;
  if (m) return s ? `${m}m ${s}s` : `${m}m`;
  return `${s}s`;
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
  return `for ${fmtDuration((now - Date.parse(iso)) / 1000)}`;
}

// ISO text for an <input type="datetime-local"> holding UTC, and back.
export function toInputValue(ms) {
  return new Date(ms).toISOString().slice(0, 19);
}
export function fromInputValue(text) {
  if (!text) return null;
  const ms = Date.parse(text.length === 16 ? `${text}:00Z` : `${text}Z`);
  return Number.isNaN(ms) ? null : ms;
}

export function table(columns, className = "rows") {
  const colgroup = h("colgroup", null, columns.map((c) => h("col", { class: c.col || null })));
  const head = h("thead", null, h("tr", null, columns.map((c) => h("th", { class: c.class || null }, c.title))));
  const body = h("tbody");
  return { el: h("table", { class: className }, colgroup, head, body), body };
}
