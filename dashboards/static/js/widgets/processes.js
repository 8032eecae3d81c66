// The processes sharing the database (/api/v1/replicas): a row each, the shards no live process
// holds, the answering process's problem, and the overview's one-line summary. Text only.
import { fmtDuration, fmtTime, fmtZoned, h, replace, table } from "../lib/dom.js";
import { t, tn, ZONE } from "../lib/i18n.js";


// Shard numbers as short ranges: [0, 1, 2, 5, 7, 8] -> "0–2, 5, 7–8".
export function shardRanges(shards) {
  const sorted = [...shards].sort((a, b) => a - b);
  const parts = [];
  for (let i = 0; i < sorted.length; i += 1) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j += 1;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}–${sorted[j]}`);
    i = j;
  }
  return parts.join(", ");
}

// The warning when some shard has no live holder, or null when every shard has one.
export function unheldText(data) {
  const n = data.unheld_shards.length;
  if (!n) return null;
  return tn("{n} shard has no live process: its checks are not probed",
    "{n} shards have no live process: their checks are not probed", n);
}

// "2 processes, all 128 shards held" or "2 processes, 120 of 128 shards held".
export function processesSummary(data) {
  const held = data.shards - data.unheld_shards.length;
  const shards = held === data.shards ? t("all {n} shards held", { n: data.shards })
    : t("{held} of {n} shards held", { held, n: data.shards });
  return tn("{n} process", "{n} processes", data.replicas.length) + ", " + shards;
}

// The overview's link to /processes: the summary, and the unheld shards or the problem when set.
export function renderSummaryLink(el, data) {
  const unheld = data.unheld_shards.length;
  const parts = [processesSummary(data)];
  if (unheld) parts.push(tn("{n} shard not probed", "{n} shards not probed", unheld));
  if (data.problem) parts.push(t("this process is not acting"));
  el.textContent = parts.join(" · ");
  el.classList.toggle("warn", Boolean(unheld || data.problem));
  el.classList.remove("hidden");
}

// els: {table, count, note, unheld, problem}. update() with processesNow()'s answer; the
// "last renewal" ages move every second by the service's clock (the answer's Date header).
export class ProcessTable {
  constructor(els) {
    this.els = els;
    this.offsetMs = 0; // service clock minus browser clock
    setInterval(() => this.paintAges(), 1000);
  }

  update(data) {
    this.offsetMs = Date.parse(data.as_of) - Date.now();
    const self = data.replicas.find((r) => r.self);
    this.banner(this.els.problem, data.problem
      ? [self ? t("This process ({id}) is not acting on its shards:", { id: self.id })
        : t("This process is not acting on its shards:"), " ", data.problem] : null);
    const unheld = unheldText(data);
    this.banner(this.els.unheld, unheld
      ? [unheld, h("span", { class: "muted" }, " (" + t("shards {ranges}", { ranges: shardRanges(data.unheld_shards) }) + ")")] : null);
    this.els.count.textContent = processesSummary(data);
    this.els.note.className = "note";
    this.els.note.textContent = data.observed_at
      ? t("As {process} read the lease table at {time} (the database's clock); a process counts as live while it renews its leases.",
        { process: self ? self.id : t("this process"), time: fmtZoned(data.observed_at) })
      : t("This process has not read the lease table yet: it shows itself alone.");
    replace(this.els.table, this.rows(data.replicas));
    this.paintAges();
  }

  fail(err) {
    this.els.note.className = "note error";
    this.els.note.textContent = t("Could not refresh: {error}", { error: err.message });
  }

  banner(el, children) {
    el.classList.toggle("hidden", !children);
    replace(el, children || []);
  }

  rows(replicas) {
    if (!replicas.length) return h("p", { class: "empty" }, t("No live process."));
    const { el, body } = table([
      { title: t("Process") }, { title: t("Host") }, { title: "PID", col: "c-num", class: "num" },
      { title: t("Started ({zone})", { zone: ZONE }), col: "c-time" }, { title: t("Last renewal"), col: "c-since" },
      { title: t("Shards"), col: "c-num", class: "num" }, { title: t("Checks"), col: "c-num", class: "num" },
      { title: t("Role"), col: "c-num" }, { title: t("Version"), col: "c-kind" },
    ]);
    for (const r of replicas) {
      const renewal = fmtZoned(r.last_renewal);
      body.append(h("tr", { class: r.self ? "self" : null, dataset: { process: r.id } },
        h("td", { class: "process-id", title: r.id }, h("span", { class: "mono" }, r.id),
          r.self ? h("span", { class: "tag self" }, t("this process")) : null),
        h("td", { title: r.host }, r.host),
        h("td", { class: "num" }, r.pid),
        h("td", { class: "mono" }, fmtTime(r.started_at)),
        h("td", { class: "renewal", title: renewal, dataset: { at: r.last_renewal } }, renewal),
        h("td", { class: "num shards", title: r.held_shards ? t("holds shards {ranges}", { ranges: shardRanges(r.held_shards) }) : null },
          r.shards),
        h("td", { class: "num checks" }, r.checks),
        h("td", { class: "role" }, r.leader ? h("span", { class: "tag leader" }, t("leader")) : ""),
        h("td", { class: "muted", title: r.version || null }, r.version || "—")));
    }
    return el;
  }

  paintAges() {
    const now = Date.now() + this.offsetMs;
    for (const cell of this.els.table.querySelectorAll("td.renewal")) {
      cell.textContent = t("{age} ago", { age: fmtDuration((now - Date.parse(cell.dataset.at)) / 1000) });
    }
  }
}
