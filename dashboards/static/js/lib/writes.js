import { t } from "./i18n.js";

// Writes to /api/v1: signed in (a session cookie), with the session's CSRF token from the page;
// otherwise with the API token (server.api_token) as a bearer token, kept in sessionStorage (this
// tab, until it closes): never in the URL, a cookie or localStorage.

const TOKEN_KEY = "platform-monitor.api-token";
const NAME_KEY = "platform-monitor.operator";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || "",
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  forget: () => sessionStorage.removeItem(TOKEN_KEY),
};

// The session's CSRF token when someone is signed in (the page carries it), else "".
export function sessionCsrf() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Who acknowledges and silences (`by`, `created_by`): not a secret, kept beside the token.
export const operator = {
  get: () => sessionStorage.getItem(NAME_KEY) || "",
  set: (value) => sessionStorage.setItem(NAME_KEY, value),
};

// A write the service refused, with a message an operator can act on.
export class WriteError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
    this.refused = status === 401 || status === 403; // the token, not the input
  }
}

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) { // a 422: where and what
    return detail.map((d) => {
      const where = (d.loc || []).filter((p) => p !== "body").join(".");
      return where ? `${where}: ${d.msg}` : d.msg;
    }).join("; ");
  }
  return "";
}

function refusal(status, detail) {
  const forbidden = t("forbidden");
  if (sessionCsrf()) {
    if (status === 401) return t("Your session has ended (401): sign in again.");
    if (status === 403) return t("Refused (403): {detail}.", { detail: detail || forbidden });
  }
  if (status === 401) return t("The service refused the API token (401): enter the token set as server.api_token.");
  if (status === 403) return t("The service refuses writes (403): {detail}.", { detail: detail || forbidden });
  return detail ? t("The service answered {status}: {detail}.", { status, detail })
    : t("The service answered {status}.", { status });
}

// `method` `url` with a JSON `body` and the token; the answer's JSON (null for 204). Throws
// WriteError: without a token at hand, on 401/403 (the token) and on any other refusal.
export async function write(method, url, body = undefined) {
  const csrf = sessionCsrf();
  const secret = token.get();
  if (!csrf && !secret) throw new WriteError(401, t("Enter the API token first (server.api_token)."));
  const headers = { Accept: "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  else headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: csrf ? "same-origin" : "omit", cache: "no-store" });
  } catch (err) {
    throw new WriteError(0, t("The service could not be reached: {error}.", { error: err.message }));
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch { /* not JSON */ }
  if (!response.ok) throw new WriteError(response.status, refusal(response.status, detailText(data && data.detail)));
  return data;
}
