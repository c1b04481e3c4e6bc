// Rendering: the unread count (badge, bell name, title), dropdown and center items, and applying state changes
// to whatever is on screen. Markup matches the server's templates (_item.html, _dropdown_item.html).

import { $, capitalize, csrfToken, h, safeUrl, timeElement } from "./dom.js";
import { filtersOf, matches } from "./filters.js";
import { whyDisclosure } from "./why.js";

const DROPDOWN_MAX = 8;
const body = document.body;
export const centerUrl = body.dataset.center || "/notifications/";
const baseTitle = document.title.replace(/^\(\d+\+?\)\s*/, "");

export const counts = { unread: Number(body.dataset.unread || 0), unseen: Number(body.dataset.unseen || 0) };

/** The unread count: the bell's name, the page title, the center's summary (and it bounds the unseen badge). */
export function setUnread(count) {
  const value = Math.max(0, Number(count) || 0);
  counts.unread = value;
  const bell = $("bell");
  if (bell) bell.setAttribute("aria-label", `Notifications, ${value} unread`);
  document.title = value > 0 ? `(${value}) ${baseTitle}` : baseTitle;
  const summary = $("unread-summary");
  if (summary) {
    summary.textContent = `${value} unread`;
    summary.dataset.count = String(value);
  }
  if (counts.unseen > value) setUnseen(value);
}

/** The badge: what arrived since the user last opened the bell (opening it marks them seen). */
export function setUnseen(count) {
  const value = Math.max(0, Math.min(Number(count) || 0, counts.unread));
  const increased = value > counts.unseen;
  counts.unseen = value;
  const badge = $("bell-badge");
  if (!badge) return;
  badge.textContent = value > 99 ? "99+" : String(value);
  badge.hidden = value === 0;
  badge.classList.toggle("is-wide", value > 9);
  if (increased) {
    badge.classList.remove("bump");
    void badge.offsetWidth;
    badge.classList.add("bump");
  }
}

/** Where opening a notification goes: its URL, else its place in the center. */
export function notificationLink(n) {
  return safeUrl(n.url) || `${centerUrl}#n-${n.id}`;
}

export function dropdownItem(n) {
  return h("li", { class: `dd-item${n.is_read ? "" : " is-unread"}`, dataset: { id: n.id, seq: String(n.seq) } },
    h("a", { href: notificationLink(n), "data-open": n.id },
      h("span", { class: "dd-title" }, n.title),
      h("span", { class: "dd-meta" },
        h("span", { class: `prio-dot prio-${n.priority}`, "aria-hidden": "true" }),
        `${n.category_label} · `, timeElement(n.created_at),
        n.is_read ? null : h("span", { class: "visually-hidden" }, ", unread"))));
}

const ICONS = {
  read: "M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z",
  unread: "M12 7a5 5 0 1 0 0 10 5 5 0 0 0 0-10z",
  archive: "M20 6h-8l-2-2H4v16h16zm-8 11-4-4h3V9h2v4h3z",
  unarchive: "M20 6h-8l-2-2H4v16h16zm-8 3 4 4h-3v4h-2v-4H8z",
  star: "M12 17.3 18.2 21l-1.6-7 5.4-4.7-7.2-.6L12 2 9.2 8.7 2 9.3l5.4 4.7-1.6 7z",
  "star-outline": "M22 9.2l-7.2-.6L12 2 9.2 8.6 2 9.2l5.5 4.7L5.8 21 12 17.3l6.2 3.7-1.6-7.1zM12 15.4l-3.8 2.3 1-4.3-3.3-2.9 4.4-.4L12 6.1l1.7 4 4.4.4-3.3 2.9 1 4.3z",
};
export const ACTION_LABELS = { read: "Mark as read", unread: "Mark as unread", archive: "Archive", unarchive: "Unarchive" };

function icon(action) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "18");
  svg.setAttribute("height", "18");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", ICONS[action]);
  svg.append(path);
  return svg;
}

/** The star: a toggle button (aria-pressed) whose name stays "Save: <title>"; its value is the next action. */
function starButton(saved, title) {
  return h("button", {
    type: "submit", name: "action", value: saved ? "unsave" : "save", class: "btn-icon n-star",
    "aria-pressed": saved ? "true" : "false", "aria-label": `Save: ${title}`,
    title: saved ? "Saved (press to remove)" : "Save",
  }, icon(saved ? "star" : "star-outline"));
}

function setStar(item, saved) {
  const button = item.querySelector("button.n-star");
  if (!button) return;
  button.value = saved ? "unsave" : "save";
  button.setAttribute("aria-pressed", saved ? "true" : "false");
  button.title = saved ? "Saved (press to remove)" : "Save";
  button.replaceChildren(icon(saved ? "star" : "star-outline"));
}

function stateButton(action, title) {
  return h("button", {
    type: "submit", name: "action", value: action, class: "btn-icon",
    "aria-label": `${ACTION_LABELS[action]}: ${title}`, title: ACTION_LABELS[action],
  }, icon(action));
}

/** Turn an icon button into the opposite action (read <-> unread, archive <-> unarchive), keeping focus on it. */
function setButton(form, fromAction, toAction) {
  const button = form && form.querySelector(`button[value="${fromAction}"]`);
  if (!button) return;
  const title = button.closest("[data-id]").querySelector(".n-title").textContent.trim();
  button.value = toAction;
  button.setAttribute("aria-label", `${ACTION_LABELS[toAction]}: ${title}`);
  button.title = ACTION_LABELS[toAction];
  button.replaceChildren(icon(toAction));
}

/** The item's snooze menu: a copy of the one the server rendered into the page (<template id="snooze-template">). */
function snoozeMenu(n) {
  const template = $("snooze-template");
  const menu = template && template.content.querySelector("details");
  if (!menu) return null;
  const copy = menu.cloneNode(true);
  copy.querySelector("form").setAttribute("action", `${centerUrl}${n.id}/snooze/`);
  copy.querySelector("summary").setAttribute("aria-label", `Snooze: ${n.title}`);
  const input = copy.querySelector('input[type="datetime-local"]');
  const label = copy.querySelector("label");
  if (input && label) {
    input.id = `snooze-at-${n.id}`;
    label.htmlFor = input.id;
  }
  const next = copy.querySelector('input[name="next"]');
  if (next) next.value = location.pathname + location.search;
  return copy;
}

export function centerItem(n) {
  const image = safeUrl(n.image_url);
  const actions = Array.isArray(n.actions) ? n.actions : [];
  const next = location.pathname + location.search;
  return h("li", {
    class: `n-item is-new${n.is_read ? "" : " is-unread"}${n.archived_at ? " is-archived" : ""}${n.saved_at ? " is-saved" : ""}${n.snoozed_until ? " is-snoozed" : ""}`,
    id: `n-${n.id}`, tabindex: "-1",
    dataset: { id: n.id, seq: String(n.seq), category: n.category, priority: n.priority, created: n.created_at },
  },
  h("article", { class: "n-card", "aria-labelledby": `n-${n.id}-title` },
    h("input", { type: "checkbox", class: "n-select", name: "ids", value: n.id, form: "bulk-bar", "aria-label": `Select: ${n.title}` }),
    image ? h("img", { class: "n-thumb", src: image, alt: "", loading: "lazy", width: 56, height: 56 }) : null,
    h("div", { class: "n-main" },
      h("p", { class: "n-meta" },
        h("span", { class: "unread-dot", "aria-hidden": "true" }),
        h("span", { class: "visually-hidden n-state-text" }, n.is_read ? "Read" : "Unread"), " ",
        h("span", { class: "chip chip-cat" }, n.category_label), " ",
        h("span", { class: `chip prio prio-${n.priority}` }, capitalize(n.priority)), " ",
        timeElement(n.created_at)),
      h("h3", { class: "n-title", id: `n-${n.id}-title` }, h("a", { href: notificationLink(n), "data-open": n.id }, n.title)),
      n.body ? h("p", { class: "n-body" }, n.body) : null,
      actions.length ? h("p", { class: "n-actions" }, actions.map((a) => {
        const href = safeUrl(a.url);
        return href ? h("a", { class: `btn btn-small btn-${a.style || "secondary"}`, href }, a.label) : null;
      })) : null,
      snoozeMenu(n),
      whyDisclosure(n)),
    h("form", { class: "n-state", method: "post", action: `${centerUrl}${n.id}/state/`, "data-enhance": "state" },
      h("input", { type: "hidden", name: "csrfmiddlewaretoken", value: csrfToken() }),
      h("input", { type: "hidden", name: "next", value: next }),
      starButton(Boolean(n.saved_at), n.title),
      stateButton(n.is_read ? "unread" : "read", n.title),
      stateButton(n.archived_at ? "unarchive" : "archive", n.title))));
}

const dayKeys = new Map();

function dayOf(iso, zone) {
  if (!dayKeys.has(zone)) {
    const parts = { timeZone: zone || undefined, year: "numeric", month: "2-digit", day: "2-digit" };
    dayKeys.set(zone, new Intl.DateTimeFormat("en-CA", parts));
  }
  return dayKeys.get(zone).format(new Date(iso)); // YYYY-MM-DD in the user's zone
}

function dayLabel(key, zone) {
  const today = dayOf(new Date().toISOString(), zone);
  const yesterday = dayOf(new Date(Date.now() - 86400000).toISOString(), zone);
  if (key === today) return "Today";
  if (key === yesterday) return "Yesterday";
  const [y, m, d] = key.split("-").map(Number);
  const options = { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" };
  if (String(y) !== today.slice(0, 4)) options.year = "numeric";
  return new Intl.DateTimeFormat("en-GB", options).format(new Date(Date.UTC(y, m - 1, d)));
}

/** Day headers ("Today", "Yesterday", a date) in the user's time zone, redone after items come and go. */
export function redoDays(list = centerList()) {
  if (!list) return;
  list.querySelectorAll(":scope > .n-day").forEach((el) => el.remove());
  let previous = null;
  for (const item of list.querySelectorAll(":scope > li[data-created]")) {
    const key = dayOf(item.dataset.created, list.dataset.tz);
    if (key !== previous) item.before(h("li", { class: "n-day", "aria-hidden": "true" }, dayLabel(key, list.dataset.tz)));
    previous = key;
  }
}

/** Insert keeping newest (highest seq) first: replays and live frames may interleave. */
function insertBySeq(list, item, seq) {
  for (const child of list.querySelectorAll(":scope > [data-seq]")) {
    if (Number(child.dataset.seq) < seq) {
      list.insertBefore(item, child);
      return;
    }
  }
  list.append(item);
}

export function centerList() {
  return $("notification-list");
}

export function updateEmptyStates() {
  const list = centerList();
  redoDays(list);
  const empty = $("center-empty");
  if (list && empty) empty.hidden = list.querySelector("[data-id]") !== null;
  const dd = $("bell-list");
  const ddEmpty = $("bell-empty");
  if (dd && ddEmpty) ddEmpty.hidden = dd.children.length > 0;
}

/** Take older copies of a notification off the screen (one that woke from a snooze comes back with a new seq). */
export function removeCopies(id, seq) {
  let removedAny = false;
  for (const item of itemsFor(id)) {
    if (Number(item.dataset.seq) < seq) {
      item.remove();
      removedAny = true;
    }
  }
  removed.delete(id);
  return removedAny;
}

export function addNotification(n) {
  const dd = $("bell-list");
  if (dd && !n.archived_at && !n.snoozed_until) {
    insertBySeq(dd, dropdownItem(n), n.seq);
    while (dd.children.length > DROPDOWN_MAX) dd.lastElementChild.remove();
  }
  const list = centerList();
  if (list && list.dataset.live === "true" && matches(filtersOf(list.dataset), n)) {
    const item = centerItem(n);
    insertBySeq(list, item, n.seq);
    enhanceItem(item);
  }
  updateEmptyStates();
}

export function itemsFor(id) {
  return document.querySelectorAll(`[data-id="${CSS.escape(id)}"]`);
}

/** Remove an item from the center; keep keyboard focus in the list if it was inside the item. */
const removed = new Map();

export function removeItem(item) {
  removed.set(item.dataset.id, item);
  const hadFocus = item.contains(document.activeElement);
  const itemFocused = document.activeElement === item;
  const items = [...centerList().querySelectorAll(":scope > [data-id]")];
  const index = items.indexOf(item);
  const neighbour = items[index + 1] || items[index - 1];
  const action = hadFocus ? document.activeElement.getAttribute("value") : null;
  item.remove();
  if (!hadFocus) return;
  // The same button on the next item (Archive -> Archive), so a keyboard user can keep going.
  const same = neighbour && action ? neighbour.querySelector(`button[value="${CSS.escape(action)}"]`) : null;
  const target = neighbour ? (itemFocused ? neighbour : same || neighbour.querySelector("a, button")) : $("history-title");
  if (target) {
    if (!neighbour) target.setAttribute("tabindex", "-1");
    target.focus();
  }
  // The same button may be hidden (inside a closed snooze menu): then the next item itself.
  if (neighbour && document.activeElement !== target) neighbour.focus();
}

/** Put back items an action removed from this view (undo), if the view shows them again. */
export function restoreItems(ids, { read, archived, saved } = {}) {
  const list = centerList();
  for (const id of ids) {
    const item = removed.get(id);
    if (!list || !item || item.isConnected) continue;
    if (read !== undefined) item.classList.toggle("is-unread", !read);
    if (archived !== undefined) item.classList.toggle("is-archived", archived);
    if (saved !== undefined) item.classList.toggle("is-saved", saved);
    applyToCenter(item, read, archived, saved);
    if (!matches(filtersOf(list.dataset), itemState(item))) continue;
    insertBySeq(list, item, Number(item.dataset.seq));
    removed.delete(id);
  }
  updateEmptyStates();
}

/** Read a center item's state back as the fields the filters look at. */
function itemState(item) {
  return {
    is_read: !item.classList.contains("is-unread"),
    archived_at: item.classList.contains("is-archived") ? "yes" : null,
    saved_at: item.classList.contains("is-saved") ? "yes" : null,
    snoozed_until: item.classList.contains("is-snoozed") ? "yes" : null,
    category: item.dataset.category,
    priority: item.dataset.priority,
  };
}

function applyToCenter(item, read, archived, saved) {
  const form = item.querySelector("form.n-state");
  if (saved !== undefined) setStar(item, saved);
  if (read !== undefined) {
    const text = item.querySelector(".n-state-text");
    if (text) text.textContent = read ? "Read" : "Unread";
    if (read) setButton(form, "read", "unread");
    else setButton(form, "unread", "read");
  }
  if (archived !== undefined) {
    if (archived) setButton(form, "archive", "unarchive");
    else setButton(form, "unarchive", "archive");
  }
}

function applyToDropdown(item, read, archived) {
  if (archived) {
    item.remove();
    return;
  }
  if (read === undefined) return;
  const hint = item.querySelector(".dd-meta .visually-hidden");
  if (read && hint) hint.remove();
  if (!read && !hint) item.querySelector(".dd-meta").append(h("span", { class: "visually-hidden" }, ", unread"));
}

export function applyUpdate({ ids, read, archived, saved, snoozed_until: snoozed }) {
  const list = centerList();
  for (const id of ids || []) {
    for (const item of itemsFor(id)) {
      const inCenter = item.classList.contains("n-item");
      if (read !== undefined) item.classList.toggle("is-unread", !read);
      if (archived !== undefined) item.classList.toggle("is-archived", archived);
      if (saved !== undefined && inCenter) item.classList.toggle("is-saved", saved);
      if (snoozed !== undefined) item.classList.toggle("is-snoozed", Boolean(snoozed));
      if (!inCenter) {
        applyToDropdown(item, read, archived || Boolean(snoozed));
        continue;
      }
      // Leaving the view first, so focus moves to the same button of the next item (before this one's flips).
      if (list && list.contains(item) && !matches(filtersOf(list.dataset), itemState(item))) removeItem(item);
      applyToCenter(item, read, archived, saved);
    }
  }
  updateEmptyStates();
}

export function applyAllRead() {
  const ids = [...document.querySelectorAll(".n-item.is-unread, .dd-item.is-unread")].map((el) => el.dataset.id);
  applyUpdate({ ids: [...new Set(ids)], read: true });
}

/** Per-item enhancements the server's markup cannot do alone: a broken image disappears, long bodies clamp. */
export function enhanceItem(item) {
  const img = item.querySelector("img.n-thumb");
  if (img) {
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) img.hidden = true;
    img.addEventListener("error", () => { img.hidden = true; }, { once: true });
  }
  const text = item.querySelector(".n-body");
  if (text && !item.querySelector(".n-more")) {
    requestAnimationFrame(() => {
      if (text.scrollHeight <= text.clientHeight + 1) return;
      const more = h("button", { type: "button", class: "btn-link n-more", "aria-expanded": "false" }, "more");
      more.addEventListener("click", () => {
        const open = text.classList.toggle("is-expanded");
        more.setAttribute("aria-expanded", String(open));
        more.textContent = open ? "less" : "more";
      });
      text.after(more);
    });
  }
}
