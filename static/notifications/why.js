// "Why did I get this?": the item's disclosure loads its explanation from the server the first time it opens (the
// same words as the page its link leads to without a script).
import { h } from "./dom.js";

const centerUrl = document.body.dataset.center || "/notifications/";

/** The disclosure of a notification added live (the server renders the same one into the page). */
export function whyDisclosure(n) {
  return h("details", { class: "n-why", dataset: { why: n.id } },
    h("summary", { class: "btn btn-small btn-quiet", "aria-label": `Why did I get this: ${n.title}` }, "Why?"),
    h("div", { class: "n-why-body" }, h("a", { href: `${centerUrl}${n.id}/why/` }, "Why did I get this?")));
}

async function load(details) {
  const body = details.querySelector(".n-why-body");
  if (!body || details.dataset.loaded) return;
  details.dataset.loaded = "1";
  body.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(`${centerUrl}${details.dataset.why}/why/?fragment=1`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    // The server escaped every value in this fragment (a Django template), as it does for the page itself.
    body.innerHTML = await response.text();
  } catch {
    delete details.dataset.loaded;  // opening it again tries again; the link still leads to the page
  } finally {
    body.removeAttribute("aria-busy");
  }
}

/** The fragment's forms (mute, unmute, turn a channel off) post in place and swap in the fragment the server
 * answers with; without a script they post and land on the why page. */
async function submitInPlace(event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches("[data-why-form]") || form.dataset.plain) return;
  const body = form.closest(".n-why-body");
  if (!body) return; // the why page itself: the ordinary post
  event.preventDefault();
  const data = new FormData(form);
  if (event.submitter && event.submitter.name) data.set(event.submitter.name, event.submitter.value);
  body.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(`${form.action}?fragment=1`, { method: "POST", body: data, credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    body.innerHTML = await response.text(); // escaped by the server's template, like the fragment it replaces
    const text = body.querySelector(".n-why-text");
    if (text) {
      text.setAttribute("tabindex", "-1"); // keyboard focus stays in the explanation that replaced the form
      text.focus();
    }
  } catch {
    form.dataset.plain = "1"; // fall back to the page round trip, with the button that was pressed
    form.requestSubmit(event.submitter || undefined);
  } finally {
    body.removeAttribute("aria-busy");
  }
}

/** `toggle` does not bubble: listen in the capture phase for every disclosure, present and future. */
export function watchWhy(root = document) {
  root.addEventListener("submit", submitInPlace);
  root.addEventListener("toggle", (event) => {
    const details = event.target;
    if (details instanceof HTMLDetailsElement && details.matches(".n-why") && details.open) load(details);
  }, true);
}
