// Preferences page: the browser's time zone as the default, and the Web Push subscription through /sw.js.

import { $, capitalize, csrfToken } from "./dom.js";

const api = document.body.dataset.api || "/api/v1/";

export function setupTimezone() {
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

export async function setupWebPush() {
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
