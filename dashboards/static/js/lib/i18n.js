// The page's language and time zone. Words come from the same gettext catalog the server renders
// the templates with (dashboards/locale), compiled and served as JSON at /i18n/<lang>.json; the
// English text is the msgid itself. Times show in `ui.timezone`, else the browser's zone.
const root = document.documentElement;
export const LANG = root.lang || "en";
export const ZONE = root.dataset.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

async function loadCatalog() {
  if (LANG === "en") return { plurals: 2, messages: {} };
  try {
    const response = await fetch(`/i18n/${encodeURIComponent(LANG)}.json`);
    if (response.ok) return await response.json();
  } catch { /* the service away: English rather than nothing */ }
  return { plurals: 2, messages: {} };
}
const catalog = await loadCatalog();

function fill(text, params) {
  return params ? text.replace(/\{(\w+)\}/g, (all, key) => (key in params ? String(params[key]) : all)) : text;
}

// `msgid` in the page's language, {name} placeholders filled from `params`.
export function t(msgid, params = null) {
  const found = catalog.messages[msgid];
  return fill(typeof found === "string" && found ? found : msgid, params);
}

// The singular or plural of a count `n` ({n} is filled too). One plural form (Chinese) or two.
export function tn(singular, plural, n, params = null) {
  const forms = catalog.messages[singular];
  const index = catalog.plurals === 1 ? 0 : n === 1 ? 0 : 1;
  const text = Array.isArray(forms) && forms[index] ? forms[index] : n === 1 ? singular : plural;
  return fill(text, { n, ...(params || {}) });
}
