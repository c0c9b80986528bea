/* Small enhancements on top of htmx; every page works without this file. */
(function () {
  "use strict";
  function status(show) {
    var box = document.getElementById("net-status");
    if (box) { box.hidden = !show; }
  }
  document.addEventListener("htmx:sendError", function () { status(true); });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail && event.detail.successful) { status(false); }
  });
  // After a boosted navigation, move focus to the main content for screen-reader users.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail && event.detail.boosted) {
      var main = document.getElementById("main");
      if (main) { main.focus({ preventScroll: true }); }
    }
  });
})();
