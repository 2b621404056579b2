// evalsite rater: number keys answer the active question, Enter submits, "?" shows the
// instructions. The page works without this script (plain radios and a submit button).
(function () {
  "use strict";
  // The instructions page: Enter starts, wherever the focus is.
  const startForm = document.getElementById("start-form");
  if (startForm) {
    document.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.repeat) { event.preventDefault(); startForm.requestSubmit(); }
    });
  }
  const form = document.getElementById("task-form");
  if (!form) return;
  const questions = Array.from(form.querySelectorAll("[data-q]"));
  const stage = document.getElementById("stage");
  const dialog = document.getElementById("instructions-dialog");
  const submitButton = document.getElementById("submit-task");
  let active = 0;
  let submitting = false;
  let shownAt = performance.now();

  function answered(q) { return q.querySelector("input:checked") !== null; }
  function firstUnanswered() { return questions.findIndex((q) => !answered(q)); }

  function activate(i) {
    if (i < 0 || i >= questions.length) return;
    active = i;
    questions.forEach((q, k) => q.classList.toggle("active", k === i));
    const rect = questions[i].getBoundingClientRect();
    if (rect.bottom > window.innerHeight || rect.top < 0) {
      questions[i].scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  function complete() {
    const missing = firstUnanswered();
    form.classList.toggle("complete", missing === -1);
    return missing === -1;
  }

  function choose(q, input) {
    input.checked = true;
    q.classList.remove("missing");
    const i = questions.indexOf(q);
    const next = questions.findIndex((other, k) => k > i && !answered(other));
    const wrap = firstUnanswered();
    activate(next !== -1 ? next : wrap !== -1 ? wrap : i);
    complete();
  }

  questions.forEach((q, i) => {
    q.addEventListener("click", () => activate(i));
    q.querySelectorAll("input").forEach((input) =>
      input.addEventListener("change", () => choose(q, input))
    );
  });

  // Time on task runs from the moment every image is on screen.
  const images = stage ? Array.from(stage.querySelectorAll("img")) : [];
  let pending = images.filter((img) => !img.complete).length;
  function imagesShown() {
    shownAt = performance.now();
    const ms = parseInt(form.dataset.exposureMs || "", 10);
    if (ms > 0) {
      window.setTimeout(() => {
        stage.classList.add("exposed");
        const note = stage.querySelector(".exposure-note");
        if (note) note.hidden = false;
      }, ms);
    }
  }
  if (pending === 0) imagesShown();
  images.forEach((img) => {
    if (!img.complete) {
      const done = () => { pending -= 1; if (pending === 0) imagesShown(); };
      img.addEventListener("load", done, { once: true });
      img.addEventListener("error", done, { once: true });
    }
  });

  form.addEventListener("submit", (event) => {
    if (submitting) { event.preventDefault(); return; }
    const missing = firstUnanswered();
    if (missing !== -1) {
      event.preventDefault();
      questions[missing].classList.add("missing");
      activate(missing);
      return;
    }
    submitting = true;  // a second Enter or click while the request is on its way does nothing
    form.elements.elapsed_ms.value = String(Math.round(performance.now() - shownAt));
    submitButton.disabled = true;
    submitButton.classList.add("busy");
  });

  function openInstructions() {
    if (dialog && !dialog.open) dialog.showModal();
  }
  const help = document.getElementById("show-instructions");
  if (help) help.addEventListener("click", openInstructions);

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (dialog && dialog.open) return;  // Esc closes it natively
    const key = event.key;
    if (key === "?") { event.preventDefault(); openInstructions(); return; }
    if (key === "Enter") {
      event.preventDefault();
      if (submitting) return;
      form.requestSubmit();  // the submit handler shows what is missing, if anything
      return;
    }
    if (key === "ArrowDown" || key === "ArrowUp") {
      event.preventDefault();
      activate(active + (key === "ArrowDown" ? 1 : -1));
      return;
    }
    if (/^[0-9]$/.test(key) && questions.length) {
      const q = questions[active];
      const input = q.querySelector(`input[data-key="${key}"]`);
      if (input) { event.preventDefault(); choose(q, input); }
    }
  });

  complete();
  const start = firstUnanswered();
  activate(start === -1 ? 0 : start);
})();
