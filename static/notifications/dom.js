// Small DOM helpers shared by the center's modules: element builder, CSRF token, safe links, time labels.

export const $ = (id) => document.getElementById(id);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/** Only http(s) URLs or paths on this site become links (the server validates too; this is defence in depth). */
export function safeUrl(value, base = globalThis.location ? globalThis.location.href : undefined) {
  if (!value || typeof value !== "string") return null;
  if (value.startsWith("/") && !value.startsWith("//")) return value;
  try {
    const url = new URL(value, base);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export function capitalize(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : "";
}

/** Say something to screen readers through the polite live region. */
export function announce(text) {
  const el = $("announcer");
  if (!el) return;
  el.textContent = "";
  // A new text node in the next frame is announced even when the text repeats.
  requestAnimationFrame(() => { el.textContent = text; });
}

const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const exactFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];

export function relativeTime(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const seconds = Math.round((now - then) / 1000);
  if (seconds < 60) return "just now";
  for (const [unit, size] of UNITS) {
    if (seconds >= size) return relativeFormat.format(-Math.floor(seconds / size), unit);
  }
  return "just now";
}

export function timeElement(iso) {
  const el = h("time", { datetime: iso });
  refreshTime(el);
  return el;
}

export function refreshTime(el) {
  const iso = el.getAttribute("datetime");
  const text = relativeTime(iso);
  if (text) el.textContent = text;
  const then = Date.parse(iso);
  if (!Number.isNaN(then)) el.title = exactFormat.format(new Date(then));
}

export function refreshTimes() {
  document.querySelectorAll(".n-list time[datetime], .dd-list time[datetime]").forEach(refreshTime);
}
