// Notify: the live layer of the server-rendered pages. One ES module, no framework, no build step.
//
// - WebSocket /ws/notifications/ (contract.md "WebSocket protocol"): reconnect with exponential backoff and full
//   jitter, `resume` from the highest contiguous seq this tab has, dedupe by id, apply notification_updated and
//   unread_count so every tab stays in sync.
// - Falls back to polling the REST API when WebSockets are unavailable or keep failing.
// - Bell dropdown (Escape closes, focus returns to the bell), toasts in aria-live regions, page title count,
//   offline / reconnecting indicator, enhanced forms (same POST endpoints as without JavaScript), "load more".
// - Preferences: browser time zone default, Web Push subscription through /sw.js.

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30000;
const RATE_LIMITED_MIN_MS = 10000;
const PING_EVERY_MS = 25000;
const PONG_TIMEOUT_MS = 10000;
const GAP_WAIT_MS = 1500;
const FALLBACK_AFTER_FAILURES = 3;
const POLL_MS = Number(window.NOTIFY_POLL_MS) || 15000;
const DROPDOWN_MAX = 8;
const TOASTS_MAX = 3;
const TOAST_MS = 8000;
const TOAST_URGENT_MS = 20000;
const REPLAY_TOAST_MAX = 3;

const body = document.body;
const userId = body.dataset.user;
const api = body.dataset.api || "/api/v1/";
const centerUrl = body.dataset.center || "/notifications/";
const storageKey = `notify:${userId}:last-seq`;
const $ = (id) => document.getElementById(id);

const state = {
  cursor: 0,
  pendingSeqs: new Set(),
  known: new Set(),
  unread: Number(body.dataset.unread || 0),
  socket: null,
  live: false,
  attempt: 0,
  failures: 0,
  reconnectTimer: null,
  pingTimer: null,
  pongTimer: null,
  gapTimer: null,
  pollTimer: null,
  ended: false,
  replayed: 0,
  replayCounted: false,
  seenSent: 0,
};

// --- Small helpers ------------------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
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

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/** Only http(s) URLs or paths on this site become links (the server validates too; this is defence in depth). */
function safeUrl(value) {
  if (!value || typeof value !== "string") return null;
  if (value.startsWith("/") && !value.startsWith("//")) return value;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function announce(text) {
  const el = $("announcer");
  if (!el) return;
  el.textContent = "";
  // A new text node in the next frame is announced even when the text repeats.
  requestAnimationFrame(() => { el.textContent = text; });
}

const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const exactFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function relativeTime(iso) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const seconds = Math.round((Date.now() - then) / 1000);
  if (seconds < 60) return "just now";
  const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    if (seconds >= size) return relativeFormat.format(-Math.floor(seconds / size), unit);
  }
  return "just now";
}

function timeElement(iso) {
  const el = h("time", { datetime: iso });
  refreshTime(el);
  return el;
}

function refreshTime(el) {
  const iso = el.getAttribute("datetime");
  const text = relativeTime(iso);
  if (text) el.textContent = text;
  const then = Date.parse(iso);
  if (!Number.isNaN(then)) el.title = exactFormat.format(new Date(then));
}

function refreshTimes() {
  document.querySelectorAll(".n-list time[datetime], .dd-list time[datetime]").forEach(refreshTime);
}

function capitalize(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : "";
}

// --- Unread count: badge, bell name, title, summary --------------------------------------------------------

const baseTitle = document.title.replace(/^\(\d+\+?\)\s*/, "");

function setUnread(count) {
  const value = Math.max(0, Number(count) || 0);
  const increased = value > state.unread;
  state.unread = value;
  const bell = $("bell");
  if (bell) bell.setAttribute("aria-label", `Notifications, ${value} unread`);
  const badge = $("bell-badge");
  if (badge) {
    badge.textContent = value > 99 ? "99+" : String(value);
    badge.hidden = value === 0;
    if (increased) {
      badge.classList.remove("bump");
      void badge.offsetWidth;
      badge.classList.add("bump");
    }
  }
  document.title = value > 0 ? `(${value}) ${baseTitle}` : baseTitle;
  const summary = $("unread-summary");
  if (summary) {
    summary.textContent = `${value} unread`;
    summary.dataset.count = String(value);
  }
}

// --- Rendering notifications -------------------------------------------------------------------------------

function notificationLink(n) {
  return safeUrl(n.url) || `${centerUrl}#n-${n.id}`;
}

function dropdownItem(n) {
  return h("li", { class: `dd-item${n.is_read ? "" : " is-unread"}`, dataset: { id: n.id, seq: String(n.seq) } },
    h("a", { href: notificationLink(n) },
      h("span", { class: "dd-title" }, n.title),
      h("span", { class: "dd-meta" },
        h("span", { class: `prio-dot prio-${n.priority}`, "aria-hidden": "true" }),
        `${n.category_label} · `, timeElement(n.created_at),
        n.is_read ? null : h("span", { class: "visually-hidden" }, ", unread"))));
}

function stateButton(action, label, title) {
  return h("button", { type: "submit", name: "action", value: action, class: "btn btn-small btn-quiet" },
    label, h("span", { class: "visually-hidden" }, `: ${title}`));
}

function centerItem(n) {
  const url = safeUrl(n.url);
  const image = safeUrl(n.image_url);
  const actions = Array.isArray(n.actions) ? n.actions : [];
  const next = location.pathname + location.search;
  return h("li", {
    class: `n-item is-new${n.is_read ? "" : " is-unread"}${n.archived_at ? " is-archived" : ""}`,
    id: `n-${n.id}`, dataset: { id: n.id, seq: String(n.seq), category: n.category, priority: n.priority },
  },
  h("article", { class: "n-card", "aria-labelledby": `n-${n.id}-title` },
    image ? h("img", { class: "n-thumb", src: image, alt: "", loading: "lazy", width: 56, height: 56 }) : null,
    h("div", { class: "n-main" },
      h("p", { class: "n-meta" },
        h("span", { class: "unread-dot", "aria-hidden": "true" }),
        h("span", { class: "visually-hidden n-state-text" }, n.is_read ? "Read" : "Unread"), " ",
        h("span", { class: "chip chip-cat" }, n.category_label), " ",
        h("span", { class: `chip prio prio-${n.priority}` }, capitalize(n.priority)), " ",
        timeElement(n.created_at)),
      h("h3", { class: "n-title", id: `n-${n.id}-title` }, url ? h("a", { href: url }, n.title) : n.title),
      n.body ? h("p", { class: "n-body" }, n.body) : null,
      actions.length ? h("p", { class: "n-actions" }, actions.map((a) => {
        const href = safeUrl(a.url);
        return href ? h("a", { class: `btn btn-small btn-${a.style || "secondary"}`, href }, a.label) : null;
      })) : null),
    h("form", { class: "n-state", method: "post", action: `${centerUrl}${n.id}/state/`, "data-enhance": "state" },
      h("input", { type: "hidden", name: "csrfmiddlewaretoken", value: csrfToken() }),
      h("input", { type: "hidden", name: "next", value: next }),
      n.is_read ? stateButton("unread", "Mark as unread", n.title) : stateButton("read", "Mark as read", n.title),
      n.archived_at ? stateButton("unarchive", "Unarchive", n.title) : stateButton("archive", "Archive", n.title))));
}

/** Insert keeping newest (highest seq) first: replays and live frames may interleave. */
function insertBySeq(list, item, seq) {
  for (const child of list.children) {
    if (Number(child.dataset.seq) < seq) {
      list.insertBefore(item, child);
      return;
    }
  }
  list.append(item);
}

function centerList() {
  return $("notification-list");
}

function csv(value) {
  return value ? value.split(",").filter(Boolean) : [];
}

/** Would the server have rendered this notification in the list as currently filtered? */
function matchesCenter(list, n) {
  const status = list.dataset.status;
  const archived = Boolean(n.archived_at);
  if (status === "archived" && !archived) return false;
  if (status !== "archived" && status !== "all" && archived) return false;
  if (status === "unread" && n.is_read) return false;
  if (status === "read" && !n.is_read) return false;
  const categories = csv(list.dataset.categories);
  const priorities = csv(list.dataset.priorities);
  if (categories.length && !categories.includes(n.category)) return false;
  if (priorities.length && !priorities.includes(n.priority)) return false;
  return true;
}

function updateEmptyStates() {
  const list = centerList();
  const empty = $("center-empty");
  if (list && empty) empty.hidden = list.children.length > 0;
  const dd = $("bell-list");
  const ddEmpty = $("bell-empty");
  if (dd && ddEmpty) ddEmpty.hidden = dd.children.length > 0;
}

function addNotification(n) {
  const dd = $("bell-list");
  if (dd && !n.archived_at) {
    insertBySeq(dd, dropdownItem(n), n.seq);
    while (dd.children.length > DROPDOWN_MAX) dd.lastElementChild.remove();
  }
  const list = centerList();
  if (list && list.dataset.live === "true" && matchesCenter(list, n)) insertBySeq(list, centerItem(n), n.seq);
  updateEmptyStates();
}

function itemsFor(id) {
  return document.querySelectorAll(`[data-id="${CSS.escape(id)}"]`);
}

function setButton(form, fromAction, toAction, label) {
  const button = form && form.querySelector(`button[value="${fromAction}"]`);
  if (!button) return;
  button.value = toAction;
  button.firstChild.textContent = label;
}

/** Remove an item from the center; keep keyboard focus in the list if it was inside the item. */
function removeItem(item) {
  const hadFocus = item.contains(document.activeElement);
  const neighbour = item.nextElementSibling || item.previousElementSibling;
  item.remove();
  if (!hadFocus) return;
  const target = neighbour ? neighbour.querySelector("button, a") : $("history-title");
  if (target) {
    if (!neighbour) target.setAttribute("tabindex", "-1");
    target.focus();
  }
}

function applyUpdate({ ids, read, archived }) {
  const list = centerList();
  for (const id of ids || []) {
    for (const item of itemsFor(id)) {
      const inCenter = item.classList.contains("n-item");
      if (read !== undefined) {
        item.classList.toggle("is-unread", !read);
        if (inCenter) {
          const text = item.querySelector(".n-state-text");
          if (text) text.textContent = read ? "Read" : "Unread";
          const form = item.querySelector("form.n-state");
          if (read) setButton(form, "read", "unread", "Mark as unread");
          else setButton(form, "unread", "read", "Mark as read");
        } else {
          const hint = item.querySelector(".dd-meta .visually-hidden");
          if (read && hint) hint.remove();
          if (!read && !hint) item.querySelector(".dd-meta").append(h("span", { class: "visually-hidden" }, ", unread"));
        }
      }
      if (archived !== undefined) {
        item.classList.toggle("is-archived", archived);
        if (!inCenter) {
          if (archived) item.remove();
          continue;
        }
        const form = item.querySelector("form.n-state");
        if (archived) setButton(form, "archive", "unarchive", "Unarchive");
        else setButton(form, "unarchive", "archive", "Archive");
      }
      if (inCenter && list && list.contains(item)) {
        const n = {
          is_read: !item.classList.contains("is-unread"),
          archived_at: item.classList.contains("is-archived") ? "yes" : null,
          category: item.dataset.category,
          priority: item.dataset.priority,
        };
        if (!matchesCenter(list, n)) removeItem(item);
      }
    }
  }
  updateEmptyStates();
}

function applyAllRead() {
  const ids = [...document.querySelectorAll(".n-item.is-unread, .dd-item.is-unread")].map((el) => el.dataset.id);
  applyUpdate({ ids: [...new Set(ids)], read: true });
}

// --- Toasts --------------------------------------------------------------------------------------------------

function toast(n) {
  const urgent = n.priority === "urgent";
  const stack = $(urgent ? "toasts-urgent" : "toasts");
  if (!stack) return;
  const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
  const el = h("div", { class: `toast prio-${n.priority}` },
    h("div", {},
      h("a", { class: "toast-title", href: notificationLink(n) },
        h("span", { class: "visually-hidden" }, urgent ? "Urgent notification: " : "New notification: "), n.title),
      h("span", { class: "toast-meta" }, `${n.category_label} · ${capitalize(n.priority)}`)),
    close);
  let timer = null;
  const remove = () => { clearTimeout(timer); el.remove(); };
  const arm = () => { clearTimeout(timer); timer = setTimeout(remove, urgent ? TOAST_URGENT_MS : TOAST_MS); };
  close.addEventListener("click", remove);
  el.addEventListener("mouseenter", () => clearTimeout(timer));
  el.addEventListener("mouseleave", arm);
  el.addEventListener("focusin", () => clearTimeout(timer));
  el.addEventListener("focusout", arm);
  stack.append(el);
  while (stack.children.length > TOASTS_MAX) stack.firstElementChild.remove();
  arm();
}

function summaryToast(count) {
  toast({
    id: "summary", title: `${count} new notifications while you were away`, priority: "normal",
    category_label: "Catching up", url: centerUrl,
  });
}

// --- The resume cursor ---------------------------------------------------------------------------------------

function saveCursor() {
  try {
    localStorage.setItem(storageKey, String(state.cursor));
  } catch {
    // Private mode or quota: the in-memory cursor still works for this tab.
  }
}

function loadCursor() {
  const rendered = Number(body.dataset.lastSeq);
  if (Number.isFinite(rendered) && body.dataset.lastSeq !== undefined && body.dataset.lastSeq !== "") return rendered;
  try {
    return Number(localStorage.getItem(storageKey)) || 0;
  } catch {
    return 0;
  }
}

/** The cursor only moves over contiguous seqs: a gap means a lost frame, and a resume fills it. */
function advanceCursor(seq) {
  if (seq <= state.cursor) return;
  state.pendingSeqs.add(seq);
  while (state.pendingSeqs.delete(state.cursor + 1)) state.cursor += 1;
  for (const s of state.pendingSeqs) if (s <= state.cursor) state.pendingSeqs.delete(s);
  saveCursor();
  if (state.pendingSeqs.size && !state.gapTimer) {
    state.gapTimer = setTimeout(() => {
      state.gapTimer = null;
      if (state.pendingSeqs.size) send({ type: "resume", last_seq: state.cursor });
    }, GAP_WAIT_MS);
  }
}

function jumpCursor(seq) {
  if (seq > state.cursor) state.cursor = seq;
  for (const s of state.pendingSeqs) if (s <= state.cursor) state.pendingSeqs.delete(s);
  while (state.pendingSeqs.delete(state.cursor + 1)) state.cursor += 1;
  saveCursor();
}

/** One notification from the socket or from polling: shown once, however many times it arrives. */
function receive(n, { replay = false, countIncluded = false } = {}) {
  if (!n || typeof n.id !== "string" || typeof n.seq !== "number") return;
  advanceCursor(n.seq);
  if (state.known.has(n.id)) return;
  state.known.add(n.id);
  addNotification(n);
  if (!n.is_read && !n.archived_at && !countIncluded) setUnread(state.unread + 1);
  if (replay) {
    state.replayed += 1;
    if (state.replayed <= REPLAY_TOAST_MAX) toast(n);
  } else {
    toast(n);
  }
}

// --- Connection status ---------------------------------------------------------------------------------------

const connTexts = {
  live: "",
  idle: "",
  reconnecting: "Reconnecting…",
  offline: "Offline — new notifications will appear when you're back online",
  polling: "Live updates unavailable — checking for new notifications periodically",
  ended: "Signed out — reload the page to log in again",
};

function setConn(name) {
  const el = $("conn-status");
  if (!el || el.dataset.state === name) return;
  el.dataset.state = name;
  el.querySelector(".conn-text").textContent = connTexts[name] || "";
}

// --- WebSocket -----------------------------------------------------------------------------------------------

function send(frame) {
  const ws = state.socket;
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

function connect() {
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = null;
  if (state.ended || state.socket) return;
  if (!("WebSocket" in window)) {
    startPolling();
    return;
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let ws;
  try {
    ws = new WebSocket(`${scheme}://${location.host}${body.dataset.wsPath || "/ws/notifications/"}`);
  } catch {
    scheduleReconnect();
    return;
  }
  state.socket = ws;
  ws.addEventListener("open", () => {
    if (state.socket !== ws) return;
    state.replayed = 0;
    send({ type: "resume", last_seq: state.cursor });
    heartbeat(ws);
  });
  ws.addEventListener("message", (event) => {
    if (state.socket !== ws) return;
    heartbeat(ws);
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    handleFrame(frame);
  });
  ws.addEventListener("close", (event) => {
    if (state.socket === ws) closed(event.code);
  });
}

/** Any frame proves the connection; silence after a ping means a dead (half-open) connection. */
function heartbeat(ws) {
  clearTimeout(state.pongTimer);
  clearTimeout(state.pingTimer);
  state.pingTimer = setTimeout(() => {
    send({ type: "ping" });
    state.pongTimer = setTimeout(() => abandon(ws), PONG_TIMEOUT_MS);
  }, PING_EVERY_MS);
}

function abandon(ws) {
  if (state.socket !== ws) return;
  closed(4000);
  try {
    ws.close();
  } catch {
    // Already closing.
  }
}

function closed(code) {
  clearTimeout(state.pingTimer);
  clearTimeout(state.pongTimer);
  state.socket = null;
  const wasLive = state.live;
  state.live = false;
  if (code === 4401) {
    state.ended = true;
    stopPolling();
    setConn("ended");
    return;
  }
  state.failures = wasLive ? 1 : state.failures + 1;
  if (!navigator.onLine) {
    setConn("offline");
    return; // the "online" event reconnects
  }
  if (state.failures >= FALLBACK_AFTER_FAILURES) startPolling();
  else setConn("reconnecting");
  scheduleReconnect(code === 4429 ? RATE_LIMITED_MIN_MS : 0);
}

function scheduleReconnect(minimum = 0) {
  if (state.reconnectTimer || state.ended) return;
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** state.attempt);
  const delay = Math.max(minimum, Math.random() * cap); // "full jitter": clients never reconnect in lockstep
  state.attempt += 1;
  state.reconnectTimer = setTimeout(connect, delay);
}

function reconnectNow() {
  if (state.socket || state.ended) return;
  state.attempt = 0;
  connect();
}

function handleFrame(frame) {
  switch (frame.type) {
    case "hello":
      state.live = true;
      state.attempt = 0;
      state.failures = 0;
      stopPolling();
      setConn("live");
      state.replayCounted = true;
      if (typeof frame.unread_count === "number") setUnread(frame.unread_count);
      break;
    case "notification":
      // hello's count already includes what the first resume replays; a later resume (a gap) does not.
      receive(frame.notification, {
        replay: Boolean(frame.replay),
        countIncluded: Boolean(frame.replay) && state.replayCounted,
      });
      break;
    case "replay_done":
      if (typeof frame.last_seq === "number") jumpCursor(frame.last_seq);
      if (state.replayed > REPLAY_TOAST_MAX) summaryToast(state.replayed);
      state.replayed = 0;
      state.replayCounted = false;
      break;
    case "resync_required":
      resync();
      break;
    case "notification_updated":
      applyUpdate(frame);
      break;
    case "unread_count":
      setUnread(frame.count);
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
      const current = $(id);
      if (fresh && current) current.replaceWith(document.importNode(fresh, true));
    }
    state.known = new Set([...document.querySelectorAll("[data-id]")].map((el) => el.dataset.id));
    state.pendingSeqs.clear();
    state.cursor = Number(doc.body.dataset.lastSeq) || state.cursor;
    saveCursor();
    setUnread(Number(doc.body.dataset.unread) || 0);
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
    state.ended = true;
    stopPolling();
    setConn("ended");
    throw new Error("signed out");
  }
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

async function pollOnce() {
  try {
    let url = `${api}notifications/?status=all&after_seq=${state.cursor}&page_size=100`;
    for (let page = 0; url && page < 5; page += 1) {
      const data = await getJson(url);
      for (const n of data.results || []) receive(n, { countIncluded: true });
      url = data.next;
    }
    const counts = await getJson(`${api}notifications/unread-count/`);
    setUnread(counts.count);
  } catch (error) {
    if (!state.ended) console.warn("polling failed", error.message);
  }
}

function startPolling() {
  setConn("polling");
  if (state.pollTimer) return;
  pollOnce();
  state.pollTimer = setInterval(pollOnce, POLL_MS);
}

function stopPolling() {
  clearInterval(state.pollTimer);
  state.pollTimer = null;
}

// --- Bell dropdown -------------------------------------------------------------------------------------------

function setupBell() {
  const bell = $("bell");
  const panel = $("bell-panel");
  if (!bell || !panel) return;
  const wrap = bell.parentElement;
  const isOpen = () => bell.getAttribute("aria-expanded") === "true";

  const open = () => {
    panel.hidden = false;
    bell.setAttribute("aria-expanded", "true");
    $("bell-panel-title").focus();
    markSeen();
  };
  const close = (returnFocus) => {
    if (!isOpen()) return;
    panel.hidden = true;
    bell.setAttribute("aria-expanded", "false");
    if (returnFocus) bell.focus();
  };
  bell.addEventListener("click", () => (isOpen() ? close(false) : open()));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && isOpen()) {
      event.preventDefault();
      close(true);
    }
  });
  document.addEventListener("pointerdown", (event) => {
    if (isOpen() && !wrap.contains(event.target)) close(false);
  });
  wrap.addEventListener("focusout", (event) => {
    if (isOpen() && event.relatedTarget && !wrap.contains(event.relatedTarget)) close(false);
  });
}

async function markSeen() {
  if (state.cursor <= state.seenSent) return;
  const upTo = state.cursor;
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

// --- Forms: the same POST endpoints as without JavaScript ----------------------------------------------------

async function postForm(form, submitter) {
  const data = new FormData(form, submitter || undefined);
  const response = await fetch(form.action, {
    method: "POST",
    credentials: "same-origin",
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

const stateMessages = {
  read: "Marked as read",
  unread: "Marked as unread",
  archive: "Archived",
  unarchive: "Moved back to the inbox",
};

async function onSubmit(event) {
  const form = event.target;
  const kind = form.dataset && form.dataset.enhance;
  if (!kind || form.dataset.plain) return;
  event.preventDefault();
  const submitter = event.submitter;
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const { response, payload } = await postForm(form, submitter);
    if (kind === "state") {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const action = submitter ? submitter.value : "";
      const update = { ids: payload.changed && payload.changed.length ? payload.changed : [form.closest("[data-id]").dataset.id] };
      if (payload.read !== undefined) update.read = payload.read;
      if (payload.archived !== undefined) update.archived = payload.archived;
      buttons.forEach((b) => { b.disabled = false; });
      applyUpdate(update);
      setUnread(payload.unread_count);
      announce(stateMessages[action] || "Done");
    } else if (kind === "mark-all") {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      applyAllRead();
      setUnread(0);
      announce("All notifications marked as read");
    } else if (kind === "send-test") {
      const result = form.querySelector(".form-result");
      const errors = payload.errors ? Object.values(payload.errors).flat().join(" ") : "";
      if (result) {
        result.classList.toggle("is-error", !response.ok);
        result.textContent = response.ok ? "Sent. It will appear in a moment." : errors || "Could not send.";
      }
    }
  } catch (error) {
    // Fall back to the plain form post (full page load), which always works.
    form.dataset.plain = "1";
    if (submitter && submitter.name) form.append(h("input", { type: "hidden", name: submitter.name, value: submitter.value }));
    form.submit();
    return;
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

// --- "Load more" ---------------------------------------------------------------------------------------------

async function onLoadMore(event) {
  const link = event.target.closest("#load-more");
  if (!link) return;
  event.preventDefault();
  link.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(link.href, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const list = centerList();
    const fresh = [...doc.querySelectorAll("#notification-list > li")].filter((li) => !$(li.id));
    for (const li of fresh) {
      state.known.add(li.dataset.id);
      list.append(document.importNode(li, true));
    }
    const nextLink = doc.getElementById("load-more");
    if (nextLink) link.href = nextLink.getAttribute("href");
    else link.parentElement.remove();
    refreshTimes();
    updateEmptyStates();
    announce(`${fresh.length} more notifications loaded`);
    const first = fresh.length ? $(fresh[0].id) : null;
    const target = first && first.querySelector("a, button");
    if (target) target.focus();
  } catch {
    location.href = link.href;
  } finally {
    link.removeAttribute("aria-busy");
  }
}

// --- Preferences: time zone default and Web Push -------------------------------------------------------------

function setupTimezone() {
  const select = $("timezone");
  if (!select || select.dataset.default !== "browser") return;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && [...select.options].some((o) => o.value === zone)) select.value = zone;
}

function base64UrlToBytes(value) {
  const padded = (value + "===".slice((value.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function browserName() {
  const ua = navigator.userAgent;
  if (/Edg\//.test(ua)) return "EDGE";
  if (/OPR\//.test(ua)) return "OPERA";
  if (/Firefox\//.test(ua)) return "FIREFOX";
  if (/Chrome\//.test(ua)) return "CHROME";
  if (/Safari\//.test(ua)) return "SAFARI";
  return "CHROME";
}

async function setupWebPush() {
  const box = $("webpush");
  if (!box) return;
  const status = $("webpush-status");
  const button = $("webpush-enable");
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    status.textContent = "This browser does not support browser notifications.";
    box.dataset.state = "unsupported";
    return;
  }
  if (Notification.permission === "denied") {
    status.textContent = "Notifications are blocked for this site. Allow them in your browser's site settings.";
    box.dataset.state = "denied";
    return;
  }
  const registration = await navigator.serviceWorker.getRegistration("/");
  const subscription = registration ? await registration.pushManager.getSubscription() : null;
  if (subscription && Notification.permission === "granted") {
    status.textContent = "Browser notifications are on for this browser.";
    box.dataset.state = "subscribed";
    return;
  }
  status.textContent = "Get notifications from this site on this device, even when the page is closed.";
  box.dataset.state = "available";
  button.hidden = false;
  button.addEventListener("click", () => enableWebPush(box, status, button));
}

async function enableWebPush(box, status, button) {
  button.disabled = true;
  status.textContent = "Setting up browser notifications…";
  try {
    const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    box.dataset.state = "registered";
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      status.textContent = "Permission was not granted, so this browser will not show notifications.";
      box.dataset.state = permission;
      return;
    }
    const keyResponse = await fetch(`${api}webpush/public-key/`, { credentials: "same-origin" });
    if (!keyResponse.ok) throw new Error("web push is not configured on this server");
    const { public_key: publicKey } = await keyResponse.json();
    await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: base64UrlToBytes(publicKey),
    });
    const json = subscription.toJSON();
    const browser = browserName();
    const response = await fetch(`${api}devices/webpush/`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify({
        registration_id: json.endpoint,
        p256dh: json.keys.p256dh,
        auth: json.keys.auth,
        browser,
        name: `${capitalize(browser.toLowerCase())} on ${navigator.platform || "this device"}`,
        active: true,
      }),
    });
    if (!response.ok && response.status !== 400) throw new Error(`the server answered ${response.status}`);
    status.textContent = "Browser notifications are on for this browser.";
    box.dataset.state = "subscribed";
    button.hidden = true;
    location.reload();
  } catch (error) {
    status.textContent = `Could not enable browser notifications: ${error.message}.`;
    box.dataset.state = box.dataset.state === "registered" ? "registered" : "failed";
  } finally {
    button.disabled = false;
  }
}

// --- Start ---------------------------------------------------------------------------------------------------

function start() {
  if (!userId) return;
  state.cursor = loadCursor();
  saveCursor();
  for (const el of document.querySelectorAll("[data-id]")) state.known.add(el.dataset.id);
  setUnread(state.unread);
  setupBell();
  setupTimezone();
  setupWebPush();
  refreshTimes();
  setInterval(refreshTimes, 30000);
  document.addEventListener("submit", onSubmit);
  document.addEventListener("click", onLoadMore);
  window.addEventListener("online", () => {
    setConn(state.pollTimer ? "polling" : "reconnecting");
    reconnectNow();
  });
  window.addEventListener("offline", () => setConn("offline"));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });
  connect();
}

// Test hooks (read-only views of the state; the browser tests use them to assert, never to drive).
window.notifyLive = { state };

start();
