// Fetching the widgets' JSON, and polling it while the page is visible.

export class HttpError extends Error {
  constructor(status, url, detail) {
    super(`HTTP ${status} from ${url}${detail ? `: ${detail}` : ""}`);
    this.status = status;
  }
}

export async function getJSON(url) {
  return (await getDated(url)).data;
}

// The JSON at `url` and when the server answered (its Date header, ISO text): the "as of" of
// live data, by the service's clock rather than the browser's.
export async function getDated(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (response.status === 401 && document.querySelector('meta[name="signed-in"]')) {
    // the session this page was drawn for has ended (signed out elsewhere, idle, too old): sign in again
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  if (!response.ok) {
    let detail = "";
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : "";
    } catch { /* not JSON */ }
    throw new HttpError(response.status, url, detail);
  }
  const date = Date.parse(response.headers.get("date") || "");
  return { data: await response.json(), asOf: new Date(Number.isNaN(date) ? Date.now() : date).toISOString() };
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) q.append(key, v instanceof Date ? v.toISOString() : v);
  }
  return q.toString();
}

// The live-refresh period: `default` ms, or ?refresh=<seconds> from the page's URL (at least 1 s;
// a wall display may want it slower, a test faster).
export function refreshMs(defaultMs) {
  const seconds = Number(new URLSearchParams(location.search).get("refresh"));
  return Number.isFinite(seconds) && seconds >= 1 ? seconds * 1000 : defaultMs;
}

// Calls `task` now and every `intervalMs` while the tab is visible (a hidden tab stops polling
// and refreshes at once when shown again). Never runs two at once; errors go to `onError`.
export class Poller {
  constructor(task, intervalMs, onError = console.warn) {
    this.task = task;
    this.intervalMs = intervalMs;
    this.onError = onError;
    this.timer = null;
    this.running = false;
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.now();
    });
  }

  start() {
    this.now();
    return this;
  }

  async now() {
    clearTimeout(this.timer);
    if (this.running) return;
    this.running = true;
    try {
      await this.task();
    } catch (err) {
      this.onError(err);
    } finally {
      this.running = false;
      if (document.visibilityState === "visible") {
        this.timer = setTimeout(() => this.now(), this.intervalMs);
      }
    }
  }
}
