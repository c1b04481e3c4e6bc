// Toasts in aria-live regions: polite for most, assertive for urgent. Each can carry an action (Undo).

import { $, capitalize, h } from "./dom.js";
import { notificationLink } from "./render.js";

const TOASTS_MAX = 3;
const TOAST_MS = 8000;
const TOAST_URGENT_MS = 20000;
const UNDO_MS = 6000;

function show(el, { urgent = false, ms = TOAST_MS } = {}) {
  const stack = $(urgent ? "toasts-urgent" : "toasts");
  if (!stack) return () => {};
  const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
  el.append(close);
  let timer = null;
  const remove = () => { clearTimeout(timer); el.remove(); };
  const arm = () => { clearTimeout(timer); timer = setTimeout(remove, ms); };
  close.addEventListener("click", remove);
  el.addEventListener("mouseenter", () => clearTimeout(timer));
  el.addEventListener("mouseleave", arm);
  el.addEventListener("focusin", () => clearTimeout(timer));
  el.addEventListener("focusout", arm);
  stack.append(el);
  while (stack.children.length > TOASTS_MAX) stack.firstElementChild.remove();
  arm();
  return remove;
}

export function toast(n, { woken = false } = {}) {
  const urgent = n.priority === "urgent";
  const kind = woken ? "Back from snooze: " : urgent ? "Urgent notification: " : "New notification: ";
  const el = h("div", { class: `toast prio-${n.priority}` },
    h("div", {},
      h("a", { class: "toast-title", href: notificationLink(n), "data-open": n.id === "summary" ? null : n.id },
        h("span", { class: woken ? "toast-kind" : "visually-hidden" }, kind), n.title),
      h("span", { class: "toast-meta" }, `${n.category_label} · ${capitalize(n.priority)}`)));
  show(el, { urgent, ms: urgent ? TOAST_URGENT_MS : TOAST_MS });
}

export function summaryToast(count, url) {
  toast({ id: "summary", title: `${count} new notifications while you were away`, priority: "normal", category_label: "Catching up", url });
}

/** "Archived. Undo": the undo button runs `undo` once; focus goes back where the user was when it is used. */
export function undoToast(text, undo) {
  const button = h("button", { type: "button", class: "btn btn-small btn-secondary toast-undo" }, "Undo");
  const el = h("div", { class: "toast" }, h("div", {}, h("span", { class: "toast-title" }, text), button));
  const remove = show(el, { ms: UNDO_MS });
  button.addEventListener("click", () => {
    remove();
    undo();
  }, { once: true });
  return button;
}
