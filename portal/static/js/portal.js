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
  // After a boosted navigation, move focus to the new page's heading so that screen readers
  // announce it and the next Tab starts at the content. The heading, not the whole <main>:
  // nothing big is outlined, and after a click or a tap :focus-visible draws no ring at all.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (!event.detail || !event.detail.boosted) { return; }
    var main = document.getElementById("main");
    var heading = main && main.querySelector("h1");
    if (!heading) { return; }
    if (!heading.hasAttribute("tabindex")) { heading.setAttribute("tabindex", "-1"); }
    heading.focus({ preventScroll: true });
  });
})();
