// Actions on notifications: the center's forms posted with fetch (the same endpoints work without JavaScript),
// opening an item marks it read, undo after archive and mark-all-read, and the bulk endpoint for several at once.

import { $, announce, csrfToken, h } from "./dom.js";
import { applyAllRead, applyUpdate, centerList, enhanceItem, restoreItems, setUnread, updateEmptyStates } from "./render.js";
import { groupIds } from "./grouping.js";
import { Outbox } from "./outbox.js";
import { undoToast } from "./toasts.js";

const centerUrl = document.body.dataset.center || "/notifications/";
const OPEN_WAIT_MS = 600;
const RESULT_MS = 6000;
const MESSAGES = {
  read: "Marked as read", unread: "Marked as unread", archive: "Archived", unarchive: "Moved back to the inbox",
  save: "Saved", unsave: "Removed from Saved",
};
const CHANGES = {
  read: { read: true }, unread: { read: false }, archive: { archived: true }, unarchive: { archived: false },
  save: { saved: true }, unsave: { saved: false },
};

async function post(url, data, { keepalive = false } = {}) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin", keepalive,
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: data,
  });
  let payload = {};
  try {
    payload = await response.json();
  } catch {
    payload = {};
  }
  return { response, payload };
}

/** The bell's count from an answer: each group once (unread_groups), else the rows. */
function setCount(payload) {
  const count = typeof payload.unread_groups === "number" ? payload.unread_groups : payload.unread_count;
  if (typeof count === "number") setUnread(count);
}

const outbox = new Outbox(localStorage, `notify:${document.body.dataset.user}:outbox`);

function applyLocally(ids, action) {
  applyUpdate({ ids, ...CHANGES[action] });
  restoreItems(ids, CHANGES[action]);
}

async function sendState(ids, action, keepalive) {
  const data = new FormData();
  data.append("action", action);
  for (const id of ids) data.append("ids", id);
  const { response, payload } = await post(`${centerUrl}bulk/`, data, { keepalive });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  applyLocally(payload.changed || [], action);
  setCount(payload);
  return payload.changed || [];
}

/**
 * Read, unread, archive or unarchive several of the user's notifications in one request. Offline (or the request
 * cannot reach the server), the wish is queued and shown at once; flushOutbox() sends it when the network is back.
 */
export async function bulkState(asked, action, { keepalive = false } = {}) {
  // Reading or archiving a group acts on its members on screen (what the person saw): buttons, keys, selection.
  const ids = action === "read" || action === "archive" ? [...new Set(asked.flatMap(groupIds))] : asked;
  if (!navigator.onLine) return queue(ids, action);
  try {
    return await sendState(ids, action, keepalive);
  } catch (error) {
    if (error instanceof TypeError) return queue(ids, action); // a network failure, not an answer
    throw error;
  }
}

function queue(ids, action) {
  outbox.add(ids, action);
  applyLocally(ids, action);
  return ids;
}

/** Send what was queued offline (at start and whenever the socket is live again), then keep the view in step. */
let flushing = null;

export function flushOutbox() {
  flushing ||= flushNow().finally(() => { flushing = null; });
  return flushing;
}

async function flushNow() {
  const batches = outbox.batches();
  for (const [action, ids] of Object.entries(batches)) applyLocally(ids, action);
  if (!navigator.onLine) return;
  for (const [action, ids] of Object.entries(batches)) {
    try {
      await sendState(ids, action, false);
      outbox.done(ids, action);
    } catch {
      return; // still unreachable: the next "live" tries again
    }
  }
}

/** An action from a button or a shortcut. Archive offers Undo; focus stays on a visible element. */
export async function stateAction(ids, action) {
  const changed = await bulkState(ids, action);
  announce(MESSAGES[action] || "Done");
  if (action === "archive" && changed.length) {
    const back = document.activeElement;
    undoToast(changed.length === 1 ? "Archived." : `Archived ${changed.length}.`, async () => {
      await bulkState(changed, "unarchive");
      announce("Moved back to the inbox");
      if (back && back.isConnected) back.focus();
    });
  }
  return changed;
}

async function markAll() {
  const { response, payload } = await post(`${centerUrl}mark-all-read/`, new FormData());
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  applyAllRead();
  setUnread(payload.unread_count || 0);
  announce("All notifications marked as read");
  const ids = payload.ids || [];
  if (ids.length) {
    undoToast(`Marked ${ids.length} as read.`, async () => {
      await bulkState(ids, "unread");
      announce("Marked as unread again");
    });
  }
}

/** The snooze menu: one request; the item leaves the view at once (focus to the next item), with Undo. */
async function snooze(form, submitter) {
  const { response, payload } = await post(form.action, new FormData(form, submitter || undefined));
  if (response.status >= 500) throw new Error(`HTTP ${response.status}`);
  let error = form.querySelector(".n-snooze-error");
  if (!response.ok) {
    const text = payload.errors ? Object.values(payload.errors).flat().join(" ") : "Could not snooze it.";
    if (!error) {
      error = h("p", { class: "n-snooze-error form-result is-error", role: "alert" });
      form.append(error);
    }
    error.textContent = text;
    return;
  }
  if (error) error.remove();
  const details = form.closest("details");
  if (details) {
    details.open = false;
    details.querySelector("summary").focus(); // focus must not stay on a button that is about to be hidden
  }
  const changed = payload.changed || [];
  applyUpdate({ ids: changed, snoozed_until: payload.snoozed_until });
  setCount(payload);
  if (!payload.snoozed_until) {
    announce("Back in your inbox");
    return;
  }
  announce(`Snoozed until ${payload.label}`);
  if (changed.length) {
    undoToast(`Snoozed until ${payload.label}.`, async () => {
      const data = new FormData();
      data.append("until", "off");
      await post(`${centerUrl}${changed[0]}/snooze/`, data);
      announce("Back in your inbox");
    });
  }
}

async function sendTest(form, submitter) {
  const { response, payload } = await post(form.action, new FormData(form, submitter || undefined));
  const result = form.querySelector(".form-result");
  if (!result) return;
  const errors = payload.errors ? Object.values(payload.errors).flat().join(" ") : "";
  result.classList.toggle("is-error", !response.ok);
  result.textContent = response.ok ? "Sent. It will appear in a moment." : errors || "Could not send.";
  clearTimeout(result.timer);
  if (response.ok) result.timer = setTimeout(() => { result.textContent = ""; }, RESULT_MS);
}

export async function onSubmit(event) {
  const form = event.target;
  const kind = form.dataset && form.dataset.enhance;
  if (!kind || form.dataset.plain) return;
  event.preventDefault();
  const submitter = event.submitter;
  if (kind === "state") {
    // Every press is a wish: one made while the last is in flight (u, u) runs after it, in order, never dropped.
    const action = submitter ? submitter.value : "";
    const previous = stateChains.get(form) || Promise.resolve();
    stateChains.set(form, previous.then(() => runState(form, submitter, action)));
    return;
  }
  // Busy, not disabled: disabling the focused button would drop keyboard focus to the page body.
  if (form.getAttribute("aria-busy") === "true") return;
  form.setAttribute("aria-busy", "true");
  try {
    if (kind === "mark-all") {
      await markAll();
    } else if (kind === "snooze") {
      await snooze(form, submitter);
    } else if (kind === "send-test") {
      await sendTest(form, submitter);
    }
  } catch {
    plainSubmit(form, submitter);
  } finally {
    form.removeAttribute("aria-busy");
  }
}

// The last queued press of each form; runState never rejects, so a chain never stops.
const stateChains = new WeakMap();

async function runState(form, submitter, action) {
  form.setAttribute("aria-busy", "true");
  try {
    await stateAction([form.closest("[data-id]").dataset.id], action);
  } catch {
    plainSubmit(form, submitter);
  } finally {
    form.removeAttribute("aria-busy");
  }
}

/** Fall back to the plain form post (full page load), which always works. */
function plainSubmit(form, submitter) {
  form.dataset.plain = "1";
  if (submitter && submitter.name) form.append(h("input", { type: "hidden", name: submitter.name, value: submitter.value }));
  form.submit();
}

/** Opening a notification (its title, a dropdown item, a toast) marks it read, on this and every other tab. */
export function onOpen(event) {
  const link = event.target.closest("a[data-open]");
  if (!link || (event.type === "auxclick" && event.button !== 1)) return;
  const id = link.dataset.open;
  const unread = [...document.querySelectorAll(`[data-id="${CSS.escape(id)}"]`)].some((el) => el.classList.contains("is-unread"));
  const url = new URL(link.href, location.href);
  const samePage = url.pathname === location.pathname && url.search === location.search && url.hash;
  const newTab = event.type === "auxclick" || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey;
  const marking = unread ? bulkState([id], "read", { keepalive: true }).catch(() => null) : Promise.resolve();
  if (newTab) return;
  if (samePage) {
    event.preventDefault();
    reveal(url.hash.slice(1));
    return;
  }
  // Let the read land before leaving, so the next page (or a reload) shows it read; never wait long.
  event.preventDefault();
  Promise.race([marking, new Promise((resolve) => setTimeout(resolve, OPEN_WAIT_MS))]).then(() => location.assign(url.href));
}

/** Show an item of this page: close the dropdown, scroll it below the sticky header, focus it. */
export function reveal(elementId) {
  const target = $(elementId);
  const bell = $("bell");
  if (bell && bell.getAttribute("aria-expanded") === "true") bell.click();
  if (!target) return;
  history.replaceState(null, "", `#${elementId}`);
  if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
  target.scrollIntoView({ block: "center" });
  target.focus({ preventScroll: true });
}

export async function onLoadMore(event) {
  const link = event.target.closest("#load-more");
  if (!link) return;
  event.preventDefault();
  link.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(link.href, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const list = centerList();
    const fresh = [...doc.querySelectorAll("#notification-list > li[data-id]")].filter((li) => !$(li.id));
    for (const li of fresh) {
      const item = document.importNode(li, true);
      list.append(item);
      enhanceItem(item);
    }
    const nextLink = doc.getElementById("load-more");
    if (nextLink) link.href = nextLink.getAttribute("href");
    else {
      link.parentElement.replaceWith(document.importNode(doc.getElementById("history-end") || h("p"), true));
    }
    updateEmptyStates();
    announce(`${fresh.length} more notifications loaded${nextLink ? "" : ". You've reached the end of your history."}`);
    const first = fresh.length ? $(fresh[0].id) : null;
    const target = first && first.querySelector("a, button");
    if (target) target.focus();
    return fresh.map((li) => li.dataset.id);
  } catch {
    location.href = link.href;
  } finally {
    link.removeAttribute("aria-busy");
  }
  return [];
}
