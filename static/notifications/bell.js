// The bell's dropdown: a disclosure panel. Enter/Space opens it with focus on the first item, arrow keys, Home
// and End move between its links, Escape closes it and returns focus to the bell. Opening marks the list seen.

import { $ } from "./dom.js";

export function setupBell({ onOpen }) {
  const bell = $("bell");
  const panel = $("bell-panel");
  if (!bell || !panel) return;
  const wrap = bell.parentElement;
  const isOpen = () => bell.getAttribute("aria-expanded") === "true";
  const links = () => [...panel.querySelectorAll(".dd-item a, a.dd-all")].filter((a) => a.offsetParent !== null);

  const open = () => {
    panel.hidden = false;
    bell.setAttribute("aria-expanded", "true");
    const first = panel.querySelector(".dd-item a");
    (first || $("bell-panel-title")).focus();
    onOpen();
  };
  const close = (returnFocus) => {
    if (!isOpen()) return;
    panel.hidden = true;
    bell.setAttribute("aria-expanded", "false");
    if (returnFocus) bell.focus();
  };
  bell.addEventListener("click", () => (isOpen() ? close(true) : open()));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && isOpen()) {
      event.preventDefault();
      close(true);
    }
  });
  panel.addEventListener("keydown", (event) => {
    const items = links();
    if (!items.length) return;
    const index = items.indexOf(document.activeElement);
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: items.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = (moves[event.key] + items.length) % items.length;
    items[index === -1 && event.key === "ArrowUp" ? items.length - 1 : next].focus();
  });
  document.addEventListener("pointerdown", (event) => {
    if (isOpen() && !wrap.contains(event.target)) close(false);
  });
  wrap.addEventListener("focusout", (event) => {
    if (isOpen() && event.relatedTarget && !wrap.contains(event.relatedTarget)) close(false);
  });
}
