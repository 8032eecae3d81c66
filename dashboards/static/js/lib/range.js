// A time-range picker: presets relative to now (1h … 90d) or a custom range typed in the page's zone,
// kept in the URL (?range=24h or ?from=…&to=…, UTC) so a view can be shared as a link.
import { fromInputValue, h, toInputValue, zoneName } from "./dom.js";
import { t } from "./i18n.js";

const UNITS = { m: 60, h: 3600, d: 86400 };

export function parseSpan(text) {
  const m = /^(\d+)([mhd])$/.exec(text || "");
  return m ? Number(m[1]) * UNITS[m[2]] * 1000 : null;
}

export const PRESETS = ["15m", "1h", "6h", "24h", "7d", "30d"];
const FIT = 4; // a data-chosen range is at least this many times as long as what it must show

// The preset a timeline opens on, chosen from the data: the shortest that shows the latest change
// (`sinceMs`: when the current state began) at a quarter of its width or more, so a fresh outage
// is a bar one can see and a stable week is not a blank day.
export function fitPreset(sinceMs, now = Date.now(), presets = PRESETS) {
  if (sinceMs === null || sinceMs === undefined || Number.isNaN(sinceMs)) return null;
  const age = Math.max(0, now - sinceMs);
  return presets.find((p) => parseSpan(p) >= age * FIT) || presets[presets.length - 1];
}

// "24h" as the page's language writes it ("24 小时").
function presetLabel(preset) {
  const m = /^(\d+)([mhd])$/.exec(preset);
  return m ? m[1] + t(m[2]) : preset; // the units' msgids: "m", "h", "d" (dom.js)
}

export class RangePicker {
  // initial: the preset without ?range/?from in the URL (fitPreset's answer, or a page's default).
  constructor(root, { presets = PRESETS, initial = "24h", onChange = () => {} } = {}) {
    this.root = root;
    this.presets = presets;
    this.onChange = onChange;
    const params = new URLSearchParams(location.search);
    const from = Date.parse(params.get("from") || "");
    const to = Date.parse(params.get("to") || "");
    if (!Number.isNaN(from) && !Number.isNaN(to) && to > from) {
      this.relative = null;
      this.fixed = { from, to };
    } else {
      this.relative = parseSpan(params.get("range")) ? params.get("range") : initial;
      this.fixed = null;
    }
    this.build();
  }

  // The range now: a relative one slides with the clock.
  get() {
    if (this.relative) {
      const to = Date.now();
      return { from: to - parseSpan(this.relative), to, relative: this.relative };
    }
    return { ...this.fixed, relative: null };
  }

  set(range) {
    if (typeof range === "string") {
      this.relative = range;
      this.fixed = null;
    } else {
      this.relative = null;
      this.fixed = { from: range.from, to: range.to };
    }
    this.writeUrl();
    this.paint();
    this.onChange(this.get());
  }

  build() {
    this.buttons = this.presets.map((p) =>
      h("button", { type: "button", dataset: { range: p }, onclick: () => this.set(p) }, presetLabel(p)));
    const field = (label) => h("input", { type: "text", class: "when", inputmode: "numeric", spellcheck: "false",
      autocomplete: "off", size: 16, placeholder: "YYYY-MM-DD HH:MM", "aria-label": label });
    this.fromInput = field(t("from"));
    this.toInput = field(t("to"));
    const apply = h("button", { type: "button", class: "btn", onclick: () => this.applyCustom() }, t("Apply"));
    this.root.append(h("div", { class: "seg", role: "group", "aria-label": t("range") }, this.buttons),
      this.fromInput, h("span", { class: "muted" }, "→"), this.toInput,
      h("span", { class: "muted zone", "data-zone-label": "" }, zoneName()), apply);
    this.paint();
  }

  applyCustom() {
    const from = fromInputValue(this.fromInput.value);
    const to = fromInputValue(this.toInput.value);
    if (from !== null && to !== null && to > from) this.set({ from, to });
  }

  paint() {
    const { from, to } = this.get();
    for (const b of this.buttons) b.setAttribute("aria-pressed", String(b.dataset.range === this.relative));
    this.fromInput.value = toInputValue(from, { seconds: false });
    this.toInput.value = toInputValue(to, { seconds: false });
  }

  writeUrl() {
    const params = new URLSearchParams(location.search);
    params.delete("range");
    params.delete("from");
    params.delete("to");
    if (this.relative) params.set("range", this.relative);
    else {
      params.set("from", new Date(this.fixed.from).toISOString());
      params.set("to", new Date(this.fixed.to).toISOString());
    }
    history.replaceState(null, "", `${location.pathname}?${params}`);
  }
}
