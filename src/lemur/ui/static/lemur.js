// Progressive enhancement shared by every page. Everything here is optional: each page
// works without JavaScript (forms post, links navigate, confirmation pages ask).

// The session's CSRF token, for fetch() calls that change something (header X-CSRF-Token).
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// POST JSON to the API as the signed-in user; resolves to {status, body}.
export async function postJSON(path, body, { signal } = {}) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body),
    signal,
  });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { status: response.status, body: data };
}

// Call fn at most once per `ms` of quiet (typing).
export function debounce(fn, ms = 250) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function guardForms() {
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const question = form.dataset.confirm;
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    // A second click while the first post is on its way does nothing (the server also
    // answers a repeated form with the first answer: lemur.accounts.submissions).
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    for (const button of form.querySelectorAll("button[type=submit], button:not([type])")) {
      button.setAttribute("aria-disabled", "true");
      button.classList.add("busy");
    }
  });
  // Coming back to the page (back button, bfcache): the form can be sent again.
  window.addEventListener("pageshow", () => {
    for (const form of document.querySelectorAll("form[data-sent]")) {
      delete form.dataset.sent;
      for (const b of form.querySelectorAll(".busy")) { b.classList.remove("busy"); b.removeAttribute("aria-disabled"); }
    }
  });
}

function copyButtons() {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied";
      } catch { button.textContent = "Select and copy"; }
    });
  }
}

function focusErrors() {
  const summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
}

guardForms();
copyButtons();
focusErrors();
