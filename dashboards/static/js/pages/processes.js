// Processes: who shares the database, the shards each holds, its last renewal; refreshed in place.
import { AsOfClock } from "../lib/asof.js";
import { processesNow } from "../lib/api.js";
import { Poller, refreshMs } from "../lib/fetch.js";
import { ProcessTable } from "../widgets/processes.js";

const REFRESH_MS = refreshMs(5000); // the answering process's memory: cheap
const byId = (id) => document.getElementById(id);
const clock = new AsOfClock();
const processes = new ProcessTable({
  table: byId("processes"), count: byId("processes-count"), note: byId("processes-note"),
  unheld: byId("unheld"), problem: byId("problem"),
});

new Poller(async () => {
  const data = await processesNow();
  processes.update(data);
  clock.set(data.as_of);
}, REFRESH_MS, (err) => {
  processes.fail(err);
  clock.fail();
}).start();
