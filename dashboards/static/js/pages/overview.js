// Overview: every component with its checks and 90-day uptime bar, refreshed in place.
import { AsOfClock } from "../lib/asof.js";
import { liveState, processesNow } from "../lib/api.js";
import { Poller, refreshMs } from "../lib/fetch.js";
import { GroupList } from "../widgets/grouplist.js";
import { loadMaintenance } from "../widgets/maintenance.js";
import { renderSummaryLink } from "../widgets/processes.js";
import { UptimeBars } from "../widgets/uptime.js";

const REFRESH_MS = refreshMs(5000); // current state: cheap (engine memory)
const UPTIME_REFRESH_MS = 300000; // daily bars move slowly; computed from storage
const PROCESSES_REFRESH_MS = 15000; // who holds the shards: a line, not the page's subject

const byId = (id) => document.getElementById(id);
const clock = new AsOfClock();
const uptime = new UptimeBars({ kind: "component" });
const list = new GroupList({
  groups: byId("groups"), search: byId("search"), filter: byId("state-filter"),
  expandAll: byId("expand-all"), collapseAll: byId("collapse-all"), counts: byId("counts"), banner: byId("banner"),
}, { uptime });

new Poller(async () => {
  const data = await liveState();
  list.update(data);
  clock.set(data.as_of);
}, REFRESH_MS, () => clock.fail()).start();
new Poller(() => uptime.load(), UPTIME_REFRESH_MS, () => {}).start();
new Poller(() => loadMaintenance(byId("maintenance"), {}), 60000, () => {}).start();
new Poller(async () => renderSummaryLink(byId("processes-summary"), await processesNow()), PROCESSES_REFRESH_MS,
  () => byId("processes-summary").classList.add("hidden")).start();
