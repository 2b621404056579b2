// The run page's live progress: poll the run's JSON every 1.5 s while it is queued or
// running, move the bar, and reload the page once when it ends (to show the result).
(function () {
  "use strict";
  var section = document.getElementById("run-progress");
  if (!section) return;
  var url = section.dataset.url;
  var bar = document.getElementById("run-progress-bar");
  var text = document.getElementById("run-progress-text");
  var tag = document.getElementById("run-status");
  var duration = document.getElementById("run-duration");
  var waiting = document.getElementById("run-waiting");
  var EVERY_MS = 1500;
  var failures = 0;

  function show(data) {
    bar.style.width = data.percent + "%";
    bar.parentElement.setAttribute("aria-valuenow", String(data.percent));
    text.textContent = data.status + ": " + data.done + " / " + data.total + " (" + data.percent + "%)";
    if (tag) {
      tag.textContent = data.status;
      tag.className = "tag tag-" + data.status;
    }
    if (duration && data.duration) duration.textContent = data.duration;
    if (waiting) {
      waiting.textContent = data.waiting || "";
      waiting.hidden = !data.waiting;
    }
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        show(data);
        if (data.active) {
          window.setTimeout(poll, EVERY_MS);
        } else {
          window.location.reload(); // once: the reloaded page of an ended run has no poller
        }
      })
      .catch(function () {
        // A restarting server or a dropped connection: back off, give up after a minute.
        failures += 1;
        if (failures <= 12) {
          window.setTimeout(poll, EVERY_MS * Math.min(failures + 1, 4));
        } else {
          text.textContent += " (progress no longer updating: reload the page)";
        }
      });
  }

  window.setTimeout(poll, EVERY_MS);
})();
