// The new-authority form: changing the issuer plugin swaps in that plugin's options form
// (rendered on the server from the plugin's JSON Schema). Without script, the form's
// "Show options" button does the same with a round trip.

function pluginOptions() {
  const select = document.querySelector("select[data-options-from]");
  const target = document.getElementById("plugin-options");
  if (!select || !target) return;
  for (const button of document.querySelectorAll("[data-show-options]")) button.hidden = true;
  select.addEventListener("change", async () => {
    const url = `${select.dataset.optionsFrom}?plugin=${encodeURIComponent(select.value)}`;
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("plugin-options");
      const current = document.getElementById("plugin-options");
      if (fresh && current) current.replaceWith(document.importNode(fresh, true));
    } catch {
      for (const button of document.querySelectorAll("[data-show-options]")) button.hidden = false;
    }
  });
}

pluginOptions();
