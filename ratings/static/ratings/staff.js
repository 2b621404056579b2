// Researchers' campaign pages: confirmations and copy fields, without inline handlers
// (the Content-Security-Policy allows scripts from our static files only).
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  document.querySelectorAll("input.copy").forEach((input) => {
    input.addEventListener("click", () => input.select());
  });
})();
