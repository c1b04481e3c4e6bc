// Web Push service worker, served at /sw.js (scope: the whole site).
// Shows each push as a system notification (title, body, icon, actions) and opens its URL on click; a "retract"
// push closes the ones its producer retracted.
// Payload (notifications/delivery/webpush.py): {id, title, body, url, tag, category?, priority?, image?}; the
// notification object of contract.md (as is, or under "notification") works too. Unknown fields are ignored.

const ICON = "/static/notifications/icon.svg";
const FALLBACK_URL = "/notifications/";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function safeUrl(value) {
  if (!value || typeof value !== "string") return null;
  try {
    const url = new URL(value, self.location.origin);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

function parse(event) {
  if (!event.data) return {};
  try {
    const payload = event.data.json();
    return payload && typeof payload === "object" ? payload : {};
  } catch {
    return { body: event.data.text() };
  }
}

// A retraction (notifications/delivery/webpush_retract.py): {type: "retract", notifications: [{id, tag}, ...]}.
// Each shown notification is found by its tag and closed if it is that one (a later one of the same group may have
// replaced it under the same tag: that one stays).
async function closeRetracted(items) {
  for (const item of Array.isArray(items) ? items : []) {
    if (!item || typeof item.id !== "string") continue;
    const tag = typeof item.tag === "string" && item.tag ? item.tag : item.id;
    for (const shown of await self.registration.getNotifications({ tag })) {
      if (shown.data && shown.data.id === item.id) shown.close();
    }
  }
}

self.addEventListener("push", (event) => {
  const payload = parse(event);
  if (payload.type === "retract") {
    event.waitUntil(closeRetracted(payload.notifications));
    return;
  }
  const n = payload.notification && typeof payload.notification === "object" ? payload.notification : payload;
  const actions = Array.isArray(n.actions) ? n.actions.slice(0, 2) : [];
  const url = safeUrl(n.url) || safeUrl(payload.url) || new URL(FALLBACK_URL, self.location.origin).href;
  const tag = n.group_key || n.tag || n.id || undefined;
  const options = {
    body: typeof n.body === "string" ? n.body : "",
    icon: safeUrl(n.icon) || safeUrl(payload.icon) || ICON,
    image: safeUrl(n.image) || safeUrl(n.image_url) || undefined,
    badge: ICON,
    tag,
    renotify: Boolean(tag),
    requireInteraction: n.priority === "urgent",
    timestamp: Date.parse(n.created_at) || Date.now(),
    data: {
      id: n.id || null,
      url,
      actions: actions.map((a) => safeUrl(a.url) || url),
    },
    actions: actions.map((a, index) => ({ action: String(index), title: String(a.label || a.title || "Open") })),
  };
  event.waitUntil(self.registration.showNotification(String(n.title || "New notification"), options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const index = event.action === "" ? -1 : Number(event.action);
  const target = (index >= 0 && data.actions && data.actions[index]) || data.url || FALLBACK_URL;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const client of windows) {
        if (client.url === target && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(target);
    })(),
  );
});
