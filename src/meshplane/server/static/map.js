// Zoom (wheel, buttons) and pan (drag) for the mesh map by moving the SVG's viewBox; without this file the map
// still renders whole and scrolls, and every node still links.
(function () {
  "use strict";
  var svg = document.getElementById("mesh-map");
  if (!svg || !svg.viewBox || !svg.viewBox.baseVal) { return; }
  var base = svg.viewBox.baseVal;
  var home = { x: base.x, y: base.y, w: base.width, h: base.height };
  var view = { x: home.x, y: home.y, w: home.w, h: home.h };
  function apply() { svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" ")); }
  function zoom(factor, cx, cy) {
    var w = Math.min(home.w * 4, Math.max(home.w / 8, view.w * factor));
    var f = w / view.w;
    view.x = cx - (cx - view.x) * f; view.y = cy - (cy - view.y) * f;
    view.w = w; view.h = view.h * f; apply();
  }
  function toView(event) {
    var rect = svg.getBoundingClientRect();
    return { x: view.x + (event.clientX - rect.left) / rect.width * view.w,
             y: view.y + (event.clientY - rect.top) / rect.height * view.h };
  }
  svg.addEventListener("wheel", function (event) {
    event.preventDefault();
    var at = toView(event);
    zoom(event.deltaY < 0 ? 0.85 : 1 / 0.85, at.x, at.y);
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) { return; }
    drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y, moved: false };
  });
  window.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    var rect = svg.getBoundingClientRect();
    var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; svg.classList.add("panning"); }
    view.x = drag.vx - dx / rect.width * view.w; view.y = drag.vy - dy / rect.height * view.h; apply();
  });
  window.addEventListener("pointerup", function () {
    if (drag && drag.moved) {  // a drag that ends on a node must not follow its link
      svg.addEventListener("click", function stop(e) { e.preventDefault(); svg.removeEventListener("click", stop, true); }, true);
    }
    drag = null; svg.classList.remove("panning");
  });
  var tools = document.querySelector('.map-tools[data-for="mesh-map"]');
  if (tools) {
    tools.hidden = false;
    tools.addEventListener("click", function (event) {
      var which = event.target.getAttribute && event.target.getAttribute("data-zoom");
      var cx = view.x + view.w / 2, cy = view.y + view.h / 2;
      if (which === "in") { zoom(0.8, cx, cy); }
      else if (which === "out") { zoom(1.25, cx, cy); }
      else if (which === "reset") { view = { x: home.x, y: home.y, w: home.w, h: home.h }; apply(); }
    });
  }
})();
