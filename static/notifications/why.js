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

/** `toggle` does not bubble: listen in the capture phase for every disclosure, present and future. */
export function watchWhy(root = document) {
  root.addEventListener("toggle", (event) => {
    const details = event.target;
    if (details instanceof HTMLDetailsElement && details.matches(".n-why") && details.open) load(details);
  }, true);
}
