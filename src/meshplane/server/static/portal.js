// meshplane portal: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // Facet checkboxes apply at once (the "Apply filters" button stays for keyboard and no-JS users).
  document.querySelectorAll("input.autosubmit").forEach(function (box) {
    box.addEventListener("change", function () { box.form.submit(); });
  });
  // Ctrl/Cmd+Enter submits the SQL editor.
  var sql = document.getElementById("sql");
  if (sql) {
    sql.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); sql.form.submit(); }
    });
  }
  // "/" focuses the quick search box, as on many catalogues.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
    if (event.key === "/" && !typing) {
      var box = document.getElementById("quick-q");
      if (box) { event.preventDefault(); box.focus(); }
    }
  });
})();
