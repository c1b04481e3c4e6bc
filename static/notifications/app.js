// Notify: the live layer of the server-rendered pages. Build-free ES modules, no framework:
//   connection.js  WebSocket with resume, heartbeat, backoff (backoff.js) and the REST polling fallback
//   cursor.js      the resume cursor and dedupe by id          filters.js  which items a center view shows
//   render.js      badge, dropdown and center items             toasts.js   toasts and Undo
//   actions.js     forms, open-marks-read, bulk, load more      bell.js     the dropdown, keyboard inside it
//   keyboard.js    j/k/o/e/u/x/? shortcuts                       webpush.js  preferences: time zone, Web Push
//   selection.js   several at once, filters that apply at once    outbox.js   actions queued while offline
// This module holds the per-tab state and turns frames into calls.

import { bulkState, flushOutbox, onLoadMore, onOpen, onSubmit, reveal } from "./actions.js";
import { setupBell } from "./bell.js";
import { Connection } from "./connection.js";
import { Cursor, Seen } from "./cursor.js";
import { csrfToken, refreshTimes } from "./dom.js";
import { setupKeyboard } from "./keyboard.js";
import {
  addNotification, applyUpdate, counts, enhanceItem, removeCopies, setUnread, setUnseen, updateEmptyStates,
} from "./render.js";
import { clearUnseen, groupable, mergeIntoGroup } from "./grouping.js";
import { replaceContent, retractItems } from "./retract.js";
import { setupFilters, setupSelection, toggleSelected } from "./selection.js";
import { summaryToast, toast } from "./toasts.js";
import { watchWhy } from "./why.js";
import { setupTimezone, setupWebPush } from "./webpush.js";

const GAP_WAIT_MS = 1500;
const POLL_MS = Number(window.NOTIFY_POLL_MS) || 15000;
const REPLAY_TOAST_MAX = 3;

const body = document.body;
const userId = body.dataset.user;
const api = body.dataset.api || "/api/v1/";
const centerUrl = body.dataset.center || "/notifications/";
const storageKey = `notify:${userId}:last-seq`;

const state = {
  cursor: new Cursor(),
  seen: new Seen(),
  connection: null,
  gapTimer: null,
  pollTimer: null,
  replayed: 0,
  replayCounted: false,
  helloSeq: 0, // hello's last_seq: its counts count exactly the rows up to this seq
  // A resume's changed_since: the time up to which this tab holds current content (the page's render, then the
  // server_time of the hello whose replay completed). Retractions and updates after it come on the next resume.
  changedSince: null,
  helloTime: null,
  seenSent: 0,
  countTimer: null,
  received: 0, // notifications received: a count fetched while one arrived is already stale
};

// --- The resume cursor ---------------------------------------------------------------------------------------

function saveCursor() {
  try {
    localStorage.setItem(storageKey, String(state.cursor.seq));
  } catch {
    // Private mode or quota: the in-memory cursor still works for this tab.
  }
}

function loadCursor() {
  const rendered = body.dataset.lastSeq;
  if (rendered !== undefined && rendered !== "" && Number.isFinite(Number(rendered))) return Number(rendered);
  try {
    return Number(localStorage.getItem(storageKey)) || 0;
  } catch {
    return 0;
  }
}

/** A seq beyond cursor + 1 waits a moment for the missing one, then asks for a resume. */
function advance(seq) {
  const gap = state.cursor.advance(seq);
  saveCursor();
  if (gap && !state.gapTimer) {
    state.gapTimer = setTimeout(() => {
      state.gapTimer = null;
      if (state.cursor.pending.size) state.connection.send({ type: "resume", last_seq: state.cursor.seq });
    }, GAP_WAIT_MS);
  }
}

/** One notification from the socket or from polling: shown once, however many times it arrives (a higher seq
 * than the copy shown is news: a snoozed notification that woke comes back with a new seq). */
function receive(n, { replay = false, countIncluded = false } = {}) {
  if (!n || typeof n.id !== "string" || typeof n.seq !== "number") return;
  advance(n.seq);
  const woken = state.seen.seqs.has(n.id); // known before, now with a higher seq: it woke from a snooze
  if (!state.seen.add(n.id, n.seq)) return;
  removeCopies(n.id, n.seq);
  state.received += 1;
  // A member of a group on screen replaces that item: the group is counted once (bell and badge).
  const { group, merged, unseen, focused } = mergeIntoGroup(n);
  const fresh = !n.is_read && !n.archived_at && !n.seen_at;
  if (group && fresh) group.unseen = true;
  addNotification(n, group);
  if (focused) document.getElementById(`n-${n.id}`)?.focus();
  if (n.snoozed_until) return; // replayed while still snoozed: not in the inbox, not counted, no toast
  if (n.muted) return; // its group is muted: stored (and read), shown in the list, but no badge and no toast
  // The bell counts items, each group once. A new member of a group not on screen (older than the dropdown and
  // the page) cannot be told from a new group here: the server counts it, a moment later.
  if (!n.is_read && !n.archived_at && !merged && !countIncluded) setUnread(counts.unread + 1);
  if (groupable(n) && !merged && !countIncluded) refreshCounts();
  // Everything shown after this page was rendered is new since the user last looked (until the bell opens).
  if (fresh && !unseen) setUnseen(counts.unseen + 1);
  if (replay) {
    state.replayed += 1;
    if (state.replayed <= REPLAY_TOAST_MAX) toast(n, { woken });
  } else {
    toast(n, { woken });
  }
}

/** What is on screen, for the dedupe: [id, seq] of every rendered item. */
function shown() {
  return [...document.querySelectorAll("[data-id]")].map((el) => [el.dataset.id, Number(el.dataset.seq)]);
}

/** The snooze menus (<details>): Escape closes the open one (focus back on its toggle), a click elsewhere too. */
function setupSnoozeMenus() {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !(event.target instanceof Element)) return;
    const open = event.target.closest("details[data-snooze][open]");
    if (!open) return;
    event.preventDefault();
    open.open = false;
    open.querySelector("summary").focus();
  });
  document.addEventListener("click", (event) => {
    for (const open of document.querySelectorAll("details[data-snooze][open]")) {
      if (!open.contains(event.target)) open.open = false;
    }
  });
}

function handleFrame(frame) {
  switch (frame.type) {
    case "hello":
      flushOutbox();
      state.replayed = 0;
      state.replayCounted = true;
      state.helloSeq = typeof frame.last_seq === "number" ? frame.last_seq : 0;
      state.helloTime = typeof frame.server_time === "string" ? frame.server_time : null;
      // The bell counts each group once (unread_groups); a server without it: ask (unread-count/ `groups`).
      if (typeof frame.unread_groups === "number") setUnread(frame.unread_groups);
      else refreshCounts();
      break;
    case "notification":
      // hello's count includes what the first resume replays up to hello's last_seq; not a row that committed
      // after hello (replayed because the replay read it), nor what a later resume (a gap) replays.
      receive(frame.notification, {
        replay: Boolean(frame.replay),
        countIncluded:
          Boolean(frame.replay) && state.replayCounted && Number(frame.notification?.seq) <= state.helloSeq,
      });
      break;
    case "replay_done":
      if (typeof frame.last_seq === "number") state.cursor.jump(frame.last_seq);
      saveCursor();
      // Only now: a socket that dies before its catch-up arrived must ask again from the older time.
      if (state.helloTime) state.changedSince = state.helloTime;
      if (state.replayed > REPLAY_TOAST_MAX) summaryToast(state.replayed, centerUrl);
      state.replayed = 0;
      state.replayCounted = false;
      break;
    case "resync_required":
      resync();
      break;
    case "notification_updated":
      // With `notification`: its producer updated it (new content, in place); otherwise read/archive/... state.
      if (frame.notification && typeof frame.notification === "object") replaceContent(frame.notification);
      else applyUpdate(frame);
      break;
    case "notification_retracted":
      retractItems(frame.ids);
      refreshCounts(); // the unread_count frame that follows counts rows; the bell counts each group once
      break;
    case "unread_count":
      // Only a count with `groups` (after a state change) is the bell's; the others count rows.
      if (typeof frame.groups === "number") setUnread(frame.groups);
      break;
    case "error":
      console.warn("notifications socket:", frame.code, frame.message);
      break;
    default:
      break;
  }
}

/** The cursor is unusable (older than retention): take a fresh server render of this page. */
async function resync() {
  try {
    const response = await fetch(location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of ["bell-list", "notification-list", "load-more"]) {
      const fresh = doc.getElementById(id);
      const current = document.getElementById(id);
      if (fresh && current) current.replaceWith(document.importNode(fresh, true));
    }
    state.seen = new Seen(shown());
    state.cursor.reset(Number(doc.body.dataset.lastSeq) || state.cursor.seq);
    saveCursor();
    if (doc.body.dataset.renderedAt) state.changedSince = doc.body.dataset.renderedAt;
    setUnread(Number(doc.body.dataset.unread) || 0);
    setUnseen(Number(doc.body.dataset.unseen) || 0);
    document.querySelectorAll("#notification-list > li[data-id]").forEach(enhanceItem);
    updateEmptyStates();
    refreshTimes();
  } catch (error) {
    console.warn("resync failed", error);
  }
}

// --- REST polling fallback -----------------------------------------------------------------------------------

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401 || response.status === 403) {
    state.connection.end();
    throw new Error("signed out");
  }
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

async function pollOnce() {
  try {
    let url = `${api}notifications/?status=all&after_seq=${state.cursor.seq}&page_size=100`;
    for (let page = 0; url && page < 5; page += 1) {
      const data = await getJson(url);
      for (const n of data.results || []) receive(n, { countIncluded: true });
      url = data.next;
    }
    const unread = await getJson(`${api}notifications/unread-count/`);
    setUnread(typeof unread.groups === "number" ? unread.groups : unread.count);
  } catch (error) {
    if (!state.connection.ended) console.warn("polling failed", error.message);
  }
}

function setPolling(on) {
  clearInterval(state.pollTimer);
  state.pollTimer = null;
  if (!on) return;
  pollOnce();
  state.pollTimer = setInterval(pollOnce, POLL_MS);
}

// --- Connection status and "seen" ------------------------------------------------------------------------------

const connTexts = {
  reconnecting: "Reconnecting…",
  offline: "Offline — new notifications will appear when you're back online",
  polling: "Live updates unavailable — checking for new notifications periodically",
  ended: "Signed out — reload the page to log in again",
};

function setConn(name) {
  const el = document.getElementById("conn-status");
  if (!el || el.dataset.state === name) return;
  el.dataset.state = name;
  el.querySelector(".conn-text").textContent = connTexts[name] || "";
}

/** The bell's count from the server (each group once), shortly after a burst; dropped if a notification arrived
 * while it was asked (it would be stale), then asked again. */
function refreshCounts(delay = 400) {
  clearTimeout(state.countTimer);
  state.countTimer = setTimeout(async () => {
    const before = state.received;
    try {
      const unread = await getJson(`${api}notifications/unread-count/`);
      if (state.received !== before) refreshCounts();
      else if (typeof unread.groups === "number") setUnread(unread.groups);
    } catch {
      // The next state change or reconnection brings the count.
    }
  }, delay);
}

async function markSeen() {
  setUnseen(0);
  clearUnseen();
  const upTo = state.cursor.seq;
  if (upTo <= state.seenSent) return;
  try {
    const response = await fetch(`${api}notifications/mark-seen/`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify({ up_to_seq: upTo }),
    });
    if (response.ok) state.seenSent = upTo;
  } catch {
    // Best effort: "seen" only clears an unseen marker, nothing depends on it.
  }
}

// --- Start ---------------------------------------------------------------------------------------------------

function start() {
  if (!userId) return;
  document.documentElement.classList.add("js");
  state.cursor = new Cursor(loadCursor());
  saveCursor();
  state.changedSince = body.dataset.renderedAt || null;
  state.seen = new Seen(shown());
  setUnread(counts.unread);
  setUnseen(counts.unseen);
  document.querySelectorAll("#notification-list > li[data-id]").forEach(enhanceItem);
  flushOutbox();
  setupBell({ onOpen: markSeen });
  setupKeyboard({ onSelect: toggleSelected });
  setupSnoozeMenus();
  watchWhy();
  setupSelection({ bulkState });
  setupFilters();
  setupTimezone();
  setupWebPush();
  refreshTimes();
  setInterval(refreshTimes, 30000);
  document.addEventListener("submit", onSubmit);
  document.addEventListener("click", onOpen);
  document.addEventListener("auxclick", onOpen);
  document.addEventListener("click", async (event) => {
    for (const id of (await onLoadMore(event)) || []) {
      state.seen.add(id, Number(document.getElementById(`n-${id}`)?.dataset.seq));
    }
  });
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  state.connection = new Connection({
    url: `${scheme}://${location.host}${body.dataset.wsPath || "/ws/notifications/"}`,
    cursor: () => state.cursor.seq,
    changedSince: () => state.changedSince,
    onFrame: handleFrame,
    onState: setConn,
    onPolling: setPolling,
  });
  window.addEventListener("online", () => {
    setConn(state.pollTimer ? "polling" : "reconnecting");
    state.connection.reconnectNow();
  });
  window.addEventListener("offline", () => setConn("offline"));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") state.connection.reconnectNow();
  });
  state.connection.connect();
  if (location.hash.startsWith("#n-")) reveal(location.hash.slice(1));
}

// Test hooks (read-only views of the state; the browser tests use them to assert, never to drive).
window.notifyLive = { state };

start();
