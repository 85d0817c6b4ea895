// The certificate page: the key download form may be sent again (each post is one more
// download, and the page does not change), and its passphrase is cleared once sent.
for (const form of document.querySelectorAll("form.key-export")) {
  form.addEventListener("submit", () => {
    window.setTimeout(() => {
      const passphrase = form.querySelector('input[type="password"]');
      if (passphrase) passphrase.value = "";
      delete form.dataset.sent;
      for (const b of form.querySelectorAll(".busy")) {
        b.classList.remove("busy");
        b.removeAttribute("aria-disabled");
      }
    }, 1000);
  });
}
