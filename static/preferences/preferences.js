// Preferences page: do-not-disturb without a page load, so unsaved edits in the preferences form stay as they are.
// Without JavaScript the buttons post the form and the page reloads (preferences/views.py do_not_disturb).

function setupDoNotDisturb() {
  const form = document.getElementById("dnd-form");
  const status = document.getElementById("dnd-status");
  if (!form || !status) return;
  form.addEventListener("submit", async (event) => {
    const button = event.submitter;
    if (!button || button.name !== "dnd") return;
    event.preventDefault();
    const body = new FormData(form);
    body.set("dnd", button.value);
    form.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const result = await response.json();
      status.textContent = result.status;
      status.classList.toggle("is-on", result.muted_until !== null);
    } catch {
      status.textContent = "Do not disturb could not be changed. Please try again.";
    } finally {
      form.removeAttribute("aria-busy");
    }
  });
}

setupDoNotDisturb();
