// Keyboard shortcuts in the center (GitHub/Gmail style): j/k move, Enter or o open, e archive, u toggle read,
// Shift+U mark unread, s save (star), z snooze, x select, ? the help sheet. Never while typing in a field or with Ctrl/Alt/Meta.

import { $ } from "./dom.js";
import { centerList } from "./render.js";

const NOT_TYPING = new Set(["checkbox", "radio", "button", "submit", "reset"]);

function typing(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.tagName === "INPUT") return !NOT_TYPING.has(target.type);
  return target.isContentEditable || /^(TEXTAREA|SELECT)$/.test(target.tagName);
}

function items() {
  const list = centerList();
  return list ? [...list.querySelectorAll(":scope > li[data-id]")] : [];
}

function current() {
  const active = document.activeElement;
  return active && active.closest ? active.closest("#notification-list > li[data-id]") : null;
}

function move(step) {
  const all = items();
  if (!all.length) return;
  const index = all.indexOf(current());
  const next = all[Math.min(all.length - 1, Math.max(0, index === -1 ? 0 : index + step))];
  next.focus();
  next.scrollIntoView({ block: "nearest" });
}

function press(item, values) {
  const button = item && values.map((v) => item.querySelector(`form.n-state button[value="${v}"]`)).find(Boolean);
  if (button) button.closest("form").requestSubmit(button);
}

/** z: open the item's snooze menu with focus on its first choice (Escape closes it again). */
function openSnooze(item) {
  const menu = item.querySelector("details[data-snooze]");
  if (!menu) return;
  menu.open = true;
  const first = menu.querySelector("form button");
  if (first) first.focus();
}

export function setupKeyboard({ onSelect }) {
  const sheet = $("shortcuts");
  if (sheet) {
    for (const button of document.querySelectorAll("[data-shortcuts]")) button.addEventListener("click", () => sheet.showModal());
  }
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (sheet && sheet.open) return; // the dialog has its own keys (Escape closes it)
    if (!centerList() && event.key !== "?") return;
    const item = current();
    const actions = {
      j: () => move(1),
      k: () => move(-1),
      o: () => item && item.querySelector("a[data-open]").click(),
      Enter: () => item && document.activeElement === item && item.querySelector("a[data-open]").click(),
      e: () => press(item, ["archive"]),
      u: () => press(item, ["read", "unread"]),
      U: () => press(item, ["unread"]),
      s: () => press(item, ["save", "unsave"]),
      z: () => item && openSnooze(item),
      x: () => item && onSelect(item),
      "?": () => sheet && sheet.showModal(),
    };
    const run = actions[event.key];
    if (!run) return;
    if (event.key === "Enter" && document.activeElement !== item) return; // Enter on a link or button does its own thing
    event.preventDefault();
    run();
  });
}
