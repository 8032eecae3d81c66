// A time-range picker: presets relative to now (1h … 30d) or a custom UTC range, kept in the URL
// (?range=24h or ?from=…&to=…) so a view can be shared as a link.
import { fromInputValue, h, toInputValue } from "./dom.js";

const UNITS = { m: 60, h: 3600, d: 86400 };

export function parseSpan(text) {
  const m = /^(\d+)([mhd])$/.exec(text || "");
  return m ? Number(m[1]) * UNITS[m[2]] * 1000 : null;
}

export class RangePicker {
  constructor(root, { presets = ["1h", "6h", "24h", "7d", "30d"], initial = "24h", onChange = () => {} } = {}) {
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
      h("button", { type: "button", dataset: { range: p }, onclick: () => this.set(p) }, p));
    this.fromInput = h("input", { type: "datetime-local", step: 1, "aria-label": "from (UTC)" });
    this.toInput = h("input", { type: "datetime-local", step: 1, "aria-label": "to (UTC)" });
    const apply = h("button", { type: "button", class: "btn", onclick: () => this.applyCustom() }, "Apply");
    this.root.append(h("div", { class: "seg", role: "group", "aria-label": "range" }, this.buttons),
      this.fromInput, h("span", { class: "muted" }, "→"), this.toInput, h("span", { class: "muted" }, "UTC"), apply);
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
    this.fromInput.value = toInputValue(from);
    this.toInput.value = toInputValue(to);
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
