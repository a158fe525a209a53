// meshplane SQL editor: completion of domains, products, ports and columns (only what the person may read,
// as the page lists it), and insertion from the schema browser. The form works without this file.
(function () {
  "use strict";
  var area = document.getElementById("sql");
  var list = document.getElementById("sql-complete");
  var data = document.getElementById("sql-schema");
  if (!area || !list || !data) { return; }
  var schema = JSON.parse(data.textContent || "{}");
  var ports = schema.ports || {};
  var KEYWORDS = ["SELECT", "FROM", "WHERE", "JOIN", "LEFT JOIN", "GROUP BY", "ORDER BY", "LIMIT", "HAVING",
    "COUNT(*)", "DISTINCT", "AS", "ON", "AND", "OR", "DESC", "ASC"];
  var choices = [], chosen = 0, start = 0;

  function unique(values) {
    var seen = {}, out = [];
    values.forEach(function (v) { if (!seen[v.text]) { seen[v.text] = true; out.push(v); } });
    return out;
  }

  // Aliases written in the query: "FROM a.b.c AS x" / "JOIN a.b x" -> x stands for that address.
  function aliases(text) {
    var found = {}, re = /\b(?:from|join)\s+([A-Za-z_][\w.]*)(?:\s+(?:as\s+)?([A-Za-z_]\w*))?/gi, m;
    while ((m = re.exec(text)) !== null) {
      found[m[1]] = m[1];
      if (m[2] && !/^(on|where|join|left|right|inner|group|order|limit|using|cross|full)$/i.test(m[2])) { found[m[2]] = m[1]; }
    }
    return found;
  }

  // The columns of an address: a port's own, or every port's of a product.
  function columnsOf(address) {
    if (ports[address]) { return ports[address]; }
    var out = [];
    Object.keys(ports).forEach(function (p) { if (p.indexOf(address + ".") === 0) { out = out.concat(ports[p]); } });
    return out;
  }

  function candidates(word, text) {
    var lower = word.toLowerCase(), dot = word.lastIndexOf("."), found = [];
    if (dot >= 0) {
      var head = word.slice(0, dot), tail = lower.slice(dot + 1), named = aliases(text)[head];
      (schema.products || []).concat(Object.keys(ports)).forEach(function (a) {
        if (a.toLowerCase().indexOf(lower) === 0) { found.push({ text: a, kind: ports[a] ? "port" : "product" }); }
      });
      if (named) {
        columnsOf(named).forEach(function (c) {
          if (c.toLowerCase().indexOf(tail) === 0) { found.push({ text: head + "." + c, kind: "column" }); }
        });
      }
    } else {
      (schema.domains || []).forEach(function (d) { if (d.indexOf(lower) === 0) { found.push({ text: d, kind: "domain" }); } });
      var used = aliases(text);
      Object.keys(used).forEach(function (key) {
        columnsOf(used[key]).forEach(function (c) {
          if (c.toLowerCase().indexOf(lower) === 0) { found.push({ text: c, kind: "column" }); }
        });
      });
      KEYWORDS.forEach(function (k) { if (lower && k.toLowerCase().indexOf(lower) === 0) { found.push({ text: k, kind: "keyword" }); } });
    }
    return unique(found).filter(function (c) { return c.text !== word; }).slice(0, 50);
  }

  // Where the caret is on screen: a hidden copy of the textarea's text up to the caret.
  function caretPoint() {
    var mirror = document.createElement("div"), style = window.getComputedStyle(area);
    ["fontFamily", "fontSize", "lineHeight", "paddingTop", "paddingLeft", "paddingRight", "borderTopWidth",
      "borderLeftWidth", "letterSpacing", "whiteSpace", "wordWrap", "tabSize"].forEach(function (p) { mirror.style[p] = style[p]; });
    mirror.style.position = "absolute"; mirror.style.visibility = "hidden"; mirror.style.whiteSpace = "pre-wrap";
    mirror.style.width = area.clientWidth + "px";
    mirror.textContent = area.value.slice(0, area.selectionStart);
    var mark = document.createElement("span"); mark.textContent = "\u200b"; mirror.appendChild(mark);
    area.parentNode.appendChild(mirror);
    var point = { left: mark.offsetLeft - area.scrollLeft, top: mark.offsetTop - area.scrollTop + mark.offsetHeight };
    area.parentNode.removeChild(mirror);
    return point;
  }

  function close() { list.hidden = true; choices = []; area.removeAttribute("aria-activedescendant"); }

  function render() {
    list.innerHTML = "";
    choices.forEach(function (c, i) {
      var item = document.createElement("li");
      item.id = "sql-complete-" + i; item.setAttribute("role", "option");
      item.setAttribute("aria-selected", i === chosen ? "true" : "false");
      item.dataset.value = c.text;
      item.appendChild(document.createTextNode(c.text));
      var kind = document.createElement("span"); kind.className = "kind"; kind.textContent = c.kind; item.appendChild(kind);
      item.addEventListener("mousedown", function (event) { event.preventDefault(); chosen = i; accept(); });
      list.appendChild(item);
    });
    area.setAttribute("aria-activedescendant", "sql-complete-" + chosen);
    var selected = list.children[chosen];
    if (selected) { selected.scrollIntoView({ block: "nearest" }); }
  }

  function open(force) {
    var before = area.value.slice(0, area.selectionStart), match = /[A-Za-z_][\w.]*$/.exec(before);
    var word = match ? match[0] : "";
    if (!word && !force) { close(); return; }
    start = area.selectionStart - word.length;
    choices = candidates(word, area.value);
    if (!choices.length) { close(); return; }
    chosen = 0;
    var point = caretPoint();
    list.style.left = Math.min(point.left, area.clientWidth - 200) + "px";
    list.style.top = (point.top + 4) + "px";
    list.hidden = false;
    render();
  }

  function insert(text, from) {
    var end = area.selectionStart;
    area.setRangeText(text, from, end, "end");
    area.focus();
  }

  function accept() {
    var choice = choices[chosen];
    if (!choice) { return; }
    insert(choice.text, start);
    close();
  }

  area.addEventListener("input", function () { open(false); });
  area.addEventListener("blur", function () { setTimeout(close, 100); });
  area.addEventListener("keydown", function (event) {
    if (event.key === " " && event.ctrlKey) { event.preventDefault(); open(true); return; }
    if (list.hidden) { return; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      chosen = (chosen + (event.key === "ArrowDown" ? 1 : choices.length - 1)) % choices.length;
      render();
    } else if ((event.key === "Enter" && !event.ctrlKey && !event.metaKey) || event.key === "Tab") {
      event.preventDefault(); accept();
    } else if (event.key === "Escape") {
      event.preventDefault(); close();
    }
  });

  // The schema browser inserts a name at the caret.
  document.querySelectorAll("button.insert").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      insert(button.dataset.insert, area.selectionStart);
    });
  });
})();
