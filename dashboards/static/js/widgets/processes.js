// The processes sharing the database (/api/v1/replicas): a row each, the shards no live process
// holds, the answering process's problem, and the overview's one-line summary. Text only.
import { fmtDuration, fmtTime, h, replace, table } from "../lib/dom.js";

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

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
  return n === 1 ? "1 shard has no live process: its checks are not probed"
    : `${n} shards have no live process: their checks are not probed`;
}

// "2 processes, all 128 shards held" or "2 processes, 120 of 128 shards held".
export function processesSummary(data) {
  const held = data.shards - data.unheld_shards.length;
  const shards = held === data.shards ? `all ${data.shards} shards held` : `${held} of ${data.shards} shards held`;
  return `${plural(data.replicas.length, "process", "processes")}, ${shards}`;
}

// The overview's link to /processes: the summary, and the unheld shards or the problem when set.
export function renderSummaryLink(el, data) {
  const unheld = data.unheld_shards.length;
  const parts = [processesSummary(data)];
  if (unheld) parts.push(`${plural(unheld, "shard", "shards")} not probed`);
  if (data.problem) parts.push("this process is not acting");
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
      ? [`This process${self ? ` (${self.id})` : ""} is not acting on its shards: `, data.problem] : null);
    const unheld = unheldText(data);
    this.banner(this.els.unheld, unheld
      ? [unheld, h("span", { class: "muted" }, ` (shards ${shardRanges(data.unheld_shards)})`)] : null);
    this.els.count.textContent = processesSummary(data);
    this.els.note.className = "note";
    this.els.note.textContent = data.observed_at
      ? `As ${self ? self.id : "this process"} read the lease table at ${fmtTime(data.observed_at)} UTC ` +
        "(the database's clock); a process counts as live while it renews its leases."
      : "This process has not read the lease table yet: it shows itself alone.";
    replace(this.els.table, this.rows(data.replicas));
    this.paintAges();
  }

  fail(err) {
    this.els.note.className = "note error";
    this.els.note.textContent = `Could not refresh: ${err.message}`;
  }

  banner(el, children) {
    el.classList.toggle("hidden", !children);
    replace(el, children || []);
  }

  rows(replicas) {
    if (!replicas.length) return h("p", { class: "empty" }, "No live process.");
    const { el, body } = table([
      { title: "Process" }, { title: "Host" }, { title: "PID", col: "c-num", class: "num" },
      { title: "Started (UTC)", col: "c-time" }, { title: "Last renewal", col: "c-since" },
      { title: "Shards", col: "c-num", class: "num" }, { title: "Checks", col: "c-num", class: "num" },
      { title: "Role", col: "c-num" }, { title: "Version", col: "c-kind" },
    ]);
    for (const r of replicas) {
      const renewal = `${fmtTime(r.last_renewal)} UTC`;
      body.append(h("tr", { class: r.self ? "self" : null, dataset: { process: r.id } },
        h("td", { class: "process-id", title: r.id }, h("span", { class: "mono" }, r.id),
          r.self ? h("span", { class: "tag self" }, "this process") : null),
        h("td", { title: r.host }, r.host),
        h("td", { class: "num" }, r.pid),
        h("td", { class: "mono" }, fmtTime(r.started_at)),
        h("td", { class: "renewal", title: renewal, dataset: { at: r.last_renewal } }, renewal),
        h("td", { class: "num shards", title: r.held_shards ? `holds shards ${shardRanges(r.held_shards)}` : null },
          r.shards),
        h("td", { class: "num checks" }, r.checks),
        h("td", { class: "role" }, r.leader ? h("span", { class: "tag leader" }, "leader") : ""),
        h("td", { class: "muted", title: r.version || null }, r.version || "—")));
    }
    return el;
  }

  paintAges() {
    const now = Date.now() + this.offsetMs;
    for (const cell of this.els.table.querySelectorAll("td.renewal")) {
      cell.textContent = `${fmtDuration((now - Date.parse(cell.dataset.at)) / 1000)} ago`;
    }
  }
}
