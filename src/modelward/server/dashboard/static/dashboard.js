// Live refresh for pages that ask for it (<main data-refresh="SECONDS">); nothing else.
(function () {
  "use strict";
  var main = document.querySelector("main[data-refresh]");
  if (!main) { return; }
  var seconds = parseInt(main.getAttribute("data-refresh"), 10);
  if (!(seconds >= 2)) { return; }
  window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
})();
