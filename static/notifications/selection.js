// Several at once: a checkbox on every center item (Shift+click selects a range), "select all on this page", and
// a toolbar that reads, unreads or archives the selection in one request. Filters apply as soon as they change.

import { $, announce } from "./dom.js";
import { centerList } from "./render.js";

let last = null;

function boxes() {
  const list = centerList();
  return list ? [...list.querySelectorAll("input.n-select")] : [];
}

function refresh() {
  const all = boxes();
  const chosen = all.filter((b) => b.checked);
  const bar = $("bulk-bar");
  if (!bar) return;
  bar.dataset.count = String(chosen.length);
  const count = $("bulk-count");
  if (count) count.textContent = chosen.length ? `${chosen.length} selected` : "";
  for (const button of bar.querySelectorAll("button[name=action]")) button.setAttribute("aria-disabled", String(!chosen.length));
  const every = $("select-all");
  if (every) {
    every.checked = all.length > 0 && chosen.length === all.length;
    every.indeterminate = chosen.length > 0 && chosen.length < all.length;
  }
}

/** Toggle one item's checkbox (the x shortcut). */
export function toggleSelected(item) {
  const box = item.querySelector("input.n-select");
  if (!box) return;
  box.checked = !box.checked;
  last = box;
  refresh();
}

export function setupSelection({ bulkState }) {
  const bar = $("bulk-bar");
  const list = centerList();
  if (!bar || !list) return;
  list.addEventListener("click", (event) => {
    const box = event.target.closest("input.n-select");
    if (!box) return;
    if (event.shiftKey && last && last !== box && last.isConnected) {
      const all = boxes();
      const [a, b] = [all.indexOf(last), all.indexOf(box)].sort((x, y) => x - y);
      for (const other of all.slice(a, b + 1)) other.checked = box.checked;
    }
    last = box;
    refresh();
  });
  const every = $("select-all");
  if (every) {
    every.addEventListener("change", () => {
      for (const box of boxes()) box.checked = every.checked;
      refresh();
    });
  }
  bar.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter && event.submitter.value;
    const ids = boxes().filter((b) => b.checked).map((b) => b.value);
    if (!action || !ids.length) {
      announce("Select notifications first");
      return;
    }
    try {
      const changed = await bulkState(ids, action);
      for (const box of boxes()) box.checked = false;
      refresh();
      announce(`${changed.length} updated`);
    } catch {
      bar.dataset.plain = "1";
      bar.submit();
    }
  });
  const observer = new MutationObserver(refresh);
  observer.observe(list, { childList: true });
  refresh();
}

/** Filters apply without a submit button: any change reloads the list with the new query (server-rendered). */
export function setupFilters() {
  const form = $("filters");
  if (!form) return;
  form.classList.add("is-live");
  // Checkboxes, dates: at once. The search box: on Enter (reloading while someone types would eat keystrokes).
  form.addEventListener("change", (event) => {
    if (event.target.type !== "search") form.requestSubmit();
  });
}
