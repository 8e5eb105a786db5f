// Keyboard shortcuts on the queue: j/k move, o open, c confirm, x clear, n needs info.
// Decisions go through the page's own CSRF-protected form; nothing is fetched from elsewhere.
// The server refuses a decision without an analyst, or a confirmation or clearance without
// a note; these checks only say so before the page is left.
var NOTE_NEEDED = { confirmed: true, cleared: true };

function missing(form, status) {
  "use strict";
  if (!form.elements.analyst.value.trim()) { return form.elements.analyst; }
  if (NOTE_NEEDED[status] && !form.elements.note.value.trim()) { return form.elements.note; }
  return null;
}

function complain(form, field, errorId) {
  "use strict";
  var box = document.getElementById(errorId);
  if (box) {
    box.textContent = field.name === "analyst" ? "Fill in your name first."
      : "Write what you checked in the note to confirm or clear.";
  }
  field.focus();
}

(function () {
  "use strict";
  var form = document.getElementById("decide-form");
  if (!form) { return; }
  form.addEventListener("submit", function (e) {
    var status = e.submitter ? e.submitter.value : "";
    var field = missing(form, status);
    if (field) { e.preventDefault(); complain(form, field, "decide-error"); }
  });
})();

(function () {
  "use strict";
  var table = document.getElementById("queue");
  var quick = document.getElementById("quick");
  if (!table || !quick) { return; }
  var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-id]"));
  var current = -1;

  function select(i) {
    if (!rows.length) { return; }
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, j) { r.classList.toggle("selected", j === current); });
    rows[current].scrollIntoView({ block: "nearest" });
  }

  function decide(status) {
    if (current < 0) { return; }
    var field = missing(quick, status);
    if (field) { complain(quick, field, "quick-error"); return; }
    quick.elements.shipment_id.value = rows[current].getAttribute("data-id");
    quick.elements.status.value = status;
    quick.submit();
  }

  rows.forEach(function (r, j) { r.addEventListener("click", function () { select(j); }); });

  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || e.ctrlKey || e.metaKey || e.altKey) { return; }
    switch (e.key) {
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "o": if (current >= 0) { window.location.href = rows[current].getAttribute("data-href"); } break;
      case "c": decide("confirmed"); break;
      case "x": decide("cleared"); break;
      case "n": decide("needs-info"); break;
      default: return;
    }
    e.preventDefault();
  });
})();
