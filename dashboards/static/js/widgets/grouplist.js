// Components as collapsible groups of their checks, for the overview and the replay. Readable at
// thousands of checks: groups start collapsed when there are many, a search box and a state
// filter work client-side, and only expanded groups have check rows in the DOM.
import { badge, componentHref, componentName, h, replace, setBadge, since, SEVERITY, stateLabel } from "../lib/dom.js";
import { t, tn } from "../lib/i18n.js";
import { CheckRows } from "./checkrows.js";

const EXPANDED_UP_TO = 60; // checks in all: up to this many, every group starts expanded
const ROWS_PER_GROUP = 200; // rows drawn in an expanded group before a "show all" button
const PROBLEMS_SHOWN = 3; // not-up checks named on a collapsed group's line

export class GroupList {
  // els: {groups, search, filter, expandAll, collapseAll, counts, banner}; uptime: UptimeBars or null
  constructor(els, { uptime = null, latency = true, emptyText = t("No checks configured.") } = {}) {
    this.els = els;
    this.emptyText = emptyText;
    this.uptime = uptime;
    this.latency = latency;
    this.data = null;
    this.groups = new Map();
    this.toggled = new Map(); // component -> expanded, as the reader left it
    this.full = new Set(); // components whose every row is shown
    this.query = [];
    this.filter = "all";
    els.search.addEventListener("input", () => {
      this.query = els.search.value.toLowerCase().split(/\s+/).filter(Boolean);
      this.render();
    });
    for (const button of els.filter.querySelectorAll("button")) {
      button.addEventListener("click", () => {
        this.filter = button.dataset.filter;
        for (const b of els.filter.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
        this.render();
      });
    }
    els.expandAll.addEventListener("click", () => this.setAll(true));
    els.collapseAll.addEventListener("click", () => this.setAll(false));
  }

  update(data) {
    this.data = data;
    this.byComponent = new Map();
    for (const check of data.checks) {
      if (!this.byComponent.has(check.component)) this.byComponent.set(check.component, []);
      this.byComponent.get(check.component).push(check);
    }
    this.render();
  }

  setAll(expanded) {
    for (const name of this.groups.keys()) this.toggled.set(name, expanded);
    this.render();
  }

  matches(text) {
    const hay = text.toLowerCase();
    return this.query.every((term) => hay.includes(term));
  }

  // The checks of `comp` this view shows, and whether the group shows at all.
  visible(comp) {
    const checks = this.byComponent.get(comp.name) || [];
    const stateOk = (s) => this.filter === "all" || (s !== "up" && s !== "nodata");
    const nameHit = this.query.length > 0 && this.matches(`${comp.name} ${comp.title || ""} ${comp.status}`);
    const shown = checks.filter((c) => stateOk(c.status)
      && (!this.query.length || nameHit || this.matches(`${c.id} ${c.kind} ${c.status} ${c.reason}`)));
    const show = (this.filter === "all" || stateOk(comp.status) || shown.length > 0)
      && (!this.query.length || nameHit || shown.length > 0);
    return { show, checks: shown, searched: this.query.length > 0 && !nameHit };
  }

  render() {
    if (!this.data) return;
    const now = Date.parse(this.data.as_of) || Date.now();
    const many = this.data.checks.length > EXPANDED_UP_TO;
    const keep = new Set();
    let previous = null;
    let shownGroups = 0;
    let shownChecks = 0;
    for (const comp of this.data.components) {
      const { show, checks, searched } = this.visible(comp);
      if (!show) continue;
      keep.add(comp.name);
      shownGroups += 1;
      shownChecks += checks.length;
      const group = this.groups.get(comp.name) || this.createGroup(comp.name);
      const expanded = this.toggled.has(comp.name) ? this.toggled.get(comp.name) : !many || searched;
      this.fillGroup(group, comp, checks, expanded, now);
      const wanted = previous ? previous.nextSibling : this.els.groups.firstChild;
      if (wanted !== group.el) this.els.groups.insertBefore(group.el, wanted);
      previous = group.el;
    }
    for (const [name, group] of this.groups) {
      if (!keep.has(name)) {
        group.el.remove();
        this.groups.delete(name);
        if (this.uptime) this.uptime.detach(name);
      }
    }
    if (!shownGroups) {
      const text = this.data.components.length ? t("Nothing matches.") : this.emptyText;
      replace(this.els.groups, h("div", { class: "empty group-body" }, text));
    }
    else this.els.groups.querySelector(":scope > .empty")?.remove();
    this.els.counts.textContent = [
      tn("{count} of {n} component", "{count} of {n} components", this.data.components.length, { count: shownGroups }),
      tn("{count} of {n} check", "{count} of {n} checks", this.data.checks.length, { count: shownChecks }),
    ].join(" · ");
    this.paintBanner();
  }

  createGroup(name) {
    const head = {
      caret: h("span", { class: "caret", "aria-hidden": "true" }, "▸"),
      badge: badge("nodata"),
      name: h("span", { class: "group-name" }), // filled by fillGroup: the title can change on a reload
      counts: h("span", { class: "group-counts" }),
      bar: h("div", { class: "uptime-slot" }),
      pct: h("span", { class: "uptime-pct muted" }),
      problems: h("div", { class: "group-problems hidden" }),
    };
    const headEl = h("div", { class: "group-head", role: "button", tabindex: "0" }, Object.values(head));
    const body = h("div", { class: "group-body" });
    const el = h("div", { class: "group", dataset: { component: name } }, headEl, body);
    const toggle = () => {
      const group = this.groups.get(name);
      this.toggled.set(name, !group.expanded);
      this.render();
    };
    headEl.addEventListener("click", toggle);
    headEl.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        toggle();
      }
    });
    const group = { el, head, body, rows: null, expanded: false, name, title: null };
    this.groups.set(name, group);
    if (this.uptime) this.uptime.attach(name, head.bar, head.pct);
    return group;
  }

  fillGroup(group, comp, checks, expanded, now) {
    const { head } = group;
    const title = comp.title || comp.name;
    if (group.title !== title) {
      replace(head.name, componentName(comp.name, title, {
        href: componentHref(comp.name), props: { onclick: (e) => e.stopPropagation() } }));
      group.title = title;
    }
    setBadge(head.badge, comp.status);
    const counts = Object.entries(comp.counts || {})
      .sort((a, b) => (SEVERITY[b[0]] ?? 0) - (SEVERITY[a[0]] ?? 0))
      .map(([state, n]) => `${n} ${stateLabel(state)}`).join(" · ");
    head.counts.textContent = [counts, comp.since ? since(comp.since, now) : ""].filter(Boolean).join(" · ");
    const problems = checks.filter((c) => c.status !== "up" && c.status !== "nodata");
    head.problems.classList.toggle("hidden", expanded || problems.length === 0);
    if (!expanded && problems.length) {
      const names = problems.slice(0, PROBLEMS_SHOWN).map((c) => `${c.name} (${stateLabel(c.status)})`);
      const more = problems.length > PROBLEMS_SHOWN ? " " + t("+{n} more", { n: problems.length - PROBLEMS_SHOWN }) : "";
      head.problems.textContent = `${names.join(", ")}${more}`;
    }
    group.expanded = expanded;
    group.el.setAttribute("aria-expanded", String(expanded));
    if (!expanded) {
      if (group.rows) group.body.replaceChildren();
      group.rows = null;
      return;
    }
    if (!group.rows) {
      group.rows = new CheckRows({ latency: this.latency });
      group.more = h("p", { class: "more" });
      group.body.replaceChildren(group.rows.el, group.more);
    }
    const limit = this.full.has(comp.name) ? Infinity : ROWS_PER_GROUP;
    group.rows.update(checks.slice(0, limit), now);
    if (checks.length > limit) {
      replace(group.more, h("button", {
        type: "button", class: "btn",
        onclick: () => { this.full.add(comp.name); this.render(); },
      }, t("Show all {n} checks", { n: checks.length })));
    } else {
      replace(group.more);
    }
  }

  paintBanner() {
    const comps = this.data.components;
    const by = {};
    for (const c of comps) by[c.status] = (by[c.status] || 0) + 1;
    const notUp = this.data.checks.filter((c) => c.status === "down" || c.status === "degraded").length;
    let worst = "up";
    for (const s of ["down", "degraded", "unknown", "nodata"]) if (by[s] && SEVERITY[s] > SEVERITY[worst]) worst = s;
    const banner = this.els.banner;
    banner.className = `banner ${worst}`;
    if (!comps.length) replace(banner, this.emptyText);
    else if (worst === "up") {
      replace(banner, badge("up"), tn("The {n} component is up", "All {n} components up", comps.length));
    }
    else {
      const parts = ["down", "degraded", "unknown", "nodata"].filter((s) => by[s]).map((s) => `${by[s]} ${stateLabel(s)}`);
      replace(banner, badge(worst), tn("{states} of {n} component", "{states} of {n} components", comps.length,
        { states: parts.join(" · ") }),
      notUp ? h("span", { class: "muted" }, " — " + tn("{n} check down or degraded", "{n} checks down or degraded", notUp))
        : null);
    }
  }
}
