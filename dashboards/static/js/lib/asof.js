// The "as of" clock in the header: the time the shown data was true (not the browser's clock),
// its age, and a stale warning when refreshing fails.
import { fmtDuration, fmtTime, zoneName } from "./dom.js";
import { t } from "./i18n.js";

const STALE_AFTER = 30; // seconds without fresh data before the clock says so

export class AsOfClock {
  constructor(root = document.getElementById("asof")) {
    this.root = root;
    this.time = root ? root.querySelector("time") : null;
    this.age = root ? root.querySelector("#asof-age") : null;
    this.zone = root ? root.querySelector("#asof-zone") : null;
    this.asOf = null;
    this.replay = false;
    this.failed = false;
    if (root) setInterval(() => this.paint(), 1000);
  }

  // `iso`: the data's time. `replay`: a past instant chosen by the user, not live data.
  set(iso, { replay = false } = {}) {
    this.asOf = Date.parse(iso);
    this.replay = replay;
    this.failed = false;
    this.paint();
  }

  fail() {
    this.failed = true;
    this.paint();
  }

  paint() {
    if (!this.root || this.asOf === null) return;
    this.time.textContent = fmtTime(this.asOf);
    if (this.zone) this.zone.textContent = zoneName(this.asOf);
    this.time.setAttribute("datetime", new Date(this.asOf).toISOString());
    const age = (Date.now() - this.asOf) / 1000;
    this.root.classList.toggle("replay", this.replay);
    this.root.classList.toggle("stale", !this.replay && (this.failed || age > STALE_AFTER));
    if (this.replay) this.age.textContent = t("(replay)");
    else if (this.failed) this.age.textContent = t("(refresh failing; {age} old)", { age: fmtDuration(age) });
    else this.age.textContent = age < 2 ? t("(live)") : t("({age} ago)", { age: fmtDuration(age) });
  }
}
