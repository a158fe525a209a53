// meshplane SQL editor: the schema browser and completion of domains, products, ports and columns (only what the
// person may read). The page lists the domains; a domain's ports come from /sql/schema/DOMAIN when it is opened,
// product and port names from /sql/complete?prefix=... as they are typed, and the columns of the ports a query
// names from /sql/columns/ADDRESS: the server decides each, for those ports only. The form works without this file.
(function () {
  "use strict";
  var area = document.getElementById("sql");
  var list = document.getElementById("sql-complete");
  var data = document.getElementById("sql-schema");
  var tree = document.getElementById("schema-tree");
  if (!area || !list || !data) { return; }
  var schema = JSON.parse(data.textContent || "{}");
  var ports = {};      // port address -> its column names, as the server decided them for this person
  var named = {};      // product or port address a query names -> the readable ports it stands for
  var names = {};      // readable product and port addresses learnt so far -> "product" | "port"
  var answered = {};   // completion prefix asked -> true when the answer was complete (nothing more matches)
  var asked = {};      // URLs requested (each once per page)
  var KEYWORDS = ["SELECT", "FROM", "WHERE", "JOIN", "LEFT JOIN", "GROUP BY", "ORDER BY", "LIMIT", "HAVING",
    "COUNT(*)", "DISTINCT", "AS", "ON", "AND", "OR", "DESC", "ASC"];
  var choices = [], chosen = 0, start = 0, wanted = null;

  function unique(values) {
    var seen = {}, out = [];
    values.forEach(function (v) { if (!seen[v.text]) { seen[v.text] = true; out.push(v); } });
    return out;
  }

  // Ask the server once per URL; when the answer comes, learn it and refresh the open completion.
  function ask(url, learn) {
    if (asked[url]) { return; }
    asked[url] = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) { if (answer) { learn(answer); refresh(); } })
      .catch(function () { asked[url] = false; });
  }

  function learnPorts(found) {
    found.forEach(function (port) {
      ports[port.address] = port.columns.map(function (c) { return c[0]; });
      names[port.address] = "port";
      names[port.address.split(".").slice(0, 2).join(".")] = "product";
    });
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

  // The columns of an address a query names: a port's own, or every port's of a product (asked for once).
  function columnsOf(address) {
    if (address.indexOf(".") < 0) { return []; }
    if (!named[address]) {
      ask("/sql/columns/" + encodeURIComponent(address), function (answer) {
        learnPorts(answer.ports);
        named[address] = answer.ports.map(function (p) { return p.address; });
      });
      return [];
    }
    var out = [];
    named[address].forEach(function (p) { out = out.concat(ports[p] || []); });
    return out;
  }

  // Product and port names starting with a prefix that names a domain: known already when a shorter prefix's
  // answer was complete, otherwise asked for (a bounded answer, decided by the server for matching ports only).
  function namesFor(lower) {
    var covered = Object.keys(answered).some(function (p) { return answered[p] && lower.indexOf(p) === 0; });
    if (!covered) {
      ask("/sql/complete?prefix=" + encodeURIComponent(lower), function (answer) {
        answer.products.forEach(function (a) { names[a] = "product"; });
        answer.ports.forEach(function (a) { names[a] = "port"; });
        answered[answer.prefix] = answer.complete;
      });
    }
    return Object.keys(names).sort().filter(function (a) { return a.toLowerCase().indexOf(lower) === 0; })
      .map(function (a) { return { text: a, kind: names[a] }; });
  }

  function candidates(word, text) {
    var lower = word.toLowerCase(), dot = word.lastIndexOf("."), found = [];
    if (dot >= 0) {
      var head = word.slice(0, dot), tail = lower.slice(dot + 1), used = aliases(text), alias = used[head];
      var domain = lower.split(".")[0];
      if ((schema.domains || []).indexOf(domain) >= 0) { found = found.concat(namesFor(lower)); }
      if (alias) {
        columnsOf(alias).forEach(function (c) {
          if (c.toLowerCase().indexOf(tail) === 0) { found.push({ text: head + "." + c, kind: "column" }); }
        });
      }
    } else {
      (schema.domains || []).forEach(function (d) { if (d.indexOf(lower) === 0) { found.push({ text: d, kind: "domain" }); } });
      var inQuery = aliases(text);
      Object.keys(inQuery).forEach(function (key) {
        columnsOf(inQuery[key]).forEach(function (c) {
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

  function close() { list.hidden = true; choices = []; wanted = null; area.removeAttribute("aria-activedescendant"); }

  // An answer arrived: show it if the person is still asking for completion of the same word.
  function refresh() {
    if (wanted === null || document.activeElement !== area) { return; }
    var before = area.value.slice(0, area.selectionStart), match = /[A-Za-z_][\w.]*$/.exec(before);
    if ((match ? match[0] : "") === wanted.word) { open(wanted.force); }
  }

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
    if (!choices.length) { close(); wanted = { word: word, force: force }; return; }
    wanted = { word: word, force: force };
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
  // Closed a moment after the editor loses focus (a click on a choice lands first), unless focus came back
  // meanwhile: a quick return (run, then type again) must not have its new list closed by the old blur.
  area.addEventListener("blur", function () {
    setTimeout(function () { if (document.activeElement !== area) { close(); } }, 100);
  });
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

  // The schema browser: a domain's ports are asked for when it is opened; a name is inserted at the caret.
  function portGroup(port) {
    var group = document.createElement("details"), summary = document.createElement("summary");
    group.className = "port-group"; group.dataset.port = port.address;
    summary.textContent = port.address.split(".").slice(1).join(".");
    group.appendChild(summary);
    var cols = document.createElement("ul"); cols.className = "plain cols-list";
    function item(text, type, title) {
      var li = document.createElement("li"), button = document.createElement("button");
      button.type = "button"; button.className = "insert"; button.dataset.insert = text; button.textContent = text;
      if (title) { button.title = title; }
      li.appendChild(button);
      if (type) { var kind = document.createElement("span"); kind.className = "muted"; kind.textContent = type; li.appendChild(document.createTextNode(" ")); li.appendChild(kind); }
      cols.appendChild(li);
    }
    item(port.address, "", "Insert the port's address");
    port.columns.forEach(function (c) { item(c[0], c[1], ""); });
    group.appendChild(cols);
    return group;
  }

  function openDomain(group) {
    var holder = group.querySelector(".domain-ports"), domain = group.dataset.domain;
    if (!holder || group.dataset.loaded) { return; }
    group.dataset.loaded = "asked";
    fetch("/sql/schema/" + encodeURIComponent(domain), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(function (answer) {
        learnPorts(answer.ports);
        holder.innerHTML = "";
        answer.ports.forEach(function (port) { holder.appendChild(portGroup(port)); });
        if (!answer.ports.length) {
          var none = document.createElement("p"); none.className = "muted small";
          none.textContent = "Nothing you may read here yet: request access to a port from its product page.";
          holder.appendChild(none);
        }
        group.dataset.loaded = "yes";
      })
      .catch(function () {
        holder.innerHTML = "";
        var failed = document.createElement("p"); failed.className = "notice bad small";
        failed.textContent = "Could not load this domain's ports; close and open it again.";
        holder.appendChild(failed);
        delete group.dataset.loaded;
      });
  }

  if (tree) {
    tree.querySelectorAll("details.domain-group").forEach(function (group) {
      group.addEventListener("toggle", function () { if (group.open) { openDomain(group); } });
    });
    tree.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("button.insert") : null;
      if (!button) { return; }
      event.preventDefault();
      insert(button.dataset.insert, area.selectionStart);
    });
  }
})();
