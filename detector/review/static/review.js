// Keyboard shortcuts on the queue: j/k move, o open, c confirm, x clear, n needs info.
// Decisions go through the page's own CSRF-protected form; nothing is fetched from elsewhere.
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
    var id = rows[current].getAttribute("data-id");
    quick.setAttribute("action", "/shipment/" + encodeURIComponent(id) + "/decide");
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
