// The step-through page of `ipc trace --html`: standard DOM only, no library, nothing fetched.
// The data (one entry per step, fd tables shared by index) is the JSON in #trace-data.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trace-data").textContent);
  var steps = data.steps;
  var svg = document.querySelector("#diagram svg.ipc-trace:not(.lanes-head)");
  var cursor = svg ? svg.querySelector(".cursor") : null;
  var rows = {};
  if (svg) {
    Array.prototype.forEach.call(svg.querySelectorAll("[data-step]"), function (row) {
      rows[row.getAttribute("data-step")] = row;
    });
  }
  var index = -1;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function colour(pid) {
    var number = data.colours[String(pid)];
    return number === undefined ? "#111827" : data.palette[number % data.palette.length];
  }

  // The step at or after model step n (a long run's page leaves out its middle steps).
  function position(n) {
    for (var i = 0; i < steps.length; i++) {
      if (steps[i].n >= n) return i;
    }
    return steps.length - 1;
  }

  function table(rowsOfTable, before) {
    var known = {};
    (before || []).forEach(function (row) { known[row.join("\u0000")] = true; });
    var node = element("table", "fds");
    var head = node.createTHead().insertRow();
    ["fd", "what it is", ""].forEach(function (word) { head.appendChild(element("th", "", word)); });
    var body = node.createTBody();
    rowsOfTable.forEach(function (row) {
      var line = body.insertRow();
      if (before && !known[row.join("\u0000")]) line.className = "new";
      line.appendChild(element("td", "fd", String(row[0])));
      line.appendChild(element("td", "object", row[1]));
      line.appendChild(element("td", "note", row[2]));
    });
    if (!rowsOfTable.length) {
      var empty = body.insertRow().insertCell();
      empty.colSpan = 3;
      empty.textContent = "no fd seen yet";
    }
    return node;
  }

  function processes(step, previous) {
    var box = document.getElementById("processes");
    box.textContent = "";
    var earlier = {};
    if (previous) previous.procs.forEach(function (p) { earlier[p[0]] = data.tables[p[1]]; });
    step.procs.forEach(function (p) {
      var pid = p[0], names = data.processes[String(pid)] || [String(pid), ""];
      var card = element("section", "process" + (p[2].length ? " blocked" : ""));
      card.setAttribute("data-pid", String(pid));
      card.style.borderLeftColor = colour(pid);
      var title = element("h3", "", names[0]);
      title.style.color = colour(pid);
      title.appendChild(element("span", "programs", " " + names[1]));
      card.appendChild(title);
      card.appendChild(element("p", "status", p[2].length ? p[2].join("; ") : "running"));
      if (p[3]) card.appendChild(code(p[3], pid));
      card.appendChild(table(data.tables[p[1]], previous ? (earlier[pid] || []) : null));
      box.appendChild(card);
    });
    if (step.ended.length) {
      var gone = element("p", "ended");
      gone.textContent = "Ended: " + step.ended.map(function (e) { return e[0] + " " + e[1]; }).join(", ");
      box.appendChild(gone);
    }
  }

  // A process's file, scrolled to the line it reached: lit if it made this step's call, dimmed otherwise (marked
  // where it is blocked). A line that made calls on this page can be clicked: the next step it made is selected.
  function code(where, pid) {
    var file = data.files[where[0]], number = where[1], kind = where[3];
    var box = element("div", "code " + kind);
    var head = element("div", "code-head");
    head.appendChild(element("span", "file", file[0] + ":" + number));
    var words = { here: "this step's call", "here blocked": "this step's call: blocked here", blocked: "blocked here",
                  last: "the last line it reached", ahead: "its first call, still ahead" };
    head.appendChild(element("span", "said", " " + words[kind]));
    box.appendChild(head);
    var lines = element("ol", "lines");
    var lit = null;
    file[1].forEach(function (text, i) {
      var item = element("li", "", text || " ");
      var made = file[2][String(i + 1)];
      if (made) {
        item.className = "made";
        item.title = "made " + made.length + " step" + (made.length === 1 ? "" : "s") + " on this page: click for the next";
        item.addEventListener("click", function () { show(nextMade(made, pid)); });
      }
      if (i + 1 === number) {
        item.classList.add("reached");
        lit = item;
      }
      lines.appendChild(item);
    });
    box.appendChild(lines);
    if (where[2]) {  // the library's frame that made the call for the program: one click away
      var library = element("details", "library");
      library.appendChild(element("summary", "", "made inside " + where[2][0]));
      library.appendChild(element("code", "", where[2][1]));
      box.appendChild(library);
    }
    box.lit = lit;
    return box;
  }

  // The next step (after the selected one, then from the start) that a line made: this process's first.
  function nextMade(made, pid) {
    var mine = made.filter(function (m) { return m[0] === pid; });
    var candidates = (mine.length ? mine : made).map(function (m) { return position(m[1]); });
    var later = candidates.filter(function (i) { return i > index; });
    return later.length ? Math.min.apply(null, later) : Math.min.apply(null, candidates);
  }

  function centre() {  // each file scrolled so that its lit line is in the middle of its box
    Array.prototype.forEach.call(document.querySelectorAll("#processes .code"), function (box) {
      var list = box.querySelector("ol.lines"), lit = box.lit;
      if (!list || !lit) return;
      var height = lit.offsetHeight, above = Math.floor(list.clientHeight / height / 2);  // whole lines above it
      list.scrollTop = Math.max(lit.offsetTop - above * height, 0);
    });
  }

  function source(step) {
    var node = document.getElementById("event-source");
    node.textContent = "";
    node.className = "";
    var said = step.source;
    if (!said) return;
    if (said.unknown) {
      node.className = "unknown";
      node.textContent = "source unknown: no record of the program names this call";
      return;
    }
    node.appendChild(element("span", "where", said.where + (said.child ? " (in the child it made)" : "")));
    node.appendChild(element("code", "", said.text));
    if (said.library) node.title = "made inside " + said.library[0] + ": " + said.library[1];
  }

  function flight(step) {
    var box = document.getElementById("flight");
    box.textContent = "";
    if (!step.flight.length) {
      box.appendChild(element("p", "none", "Nothing: every byte written so far has been read."));
      return;
    }
    step.flight.forEach(function (f) {
      var item = element("div", "channel");
      item.appendChild(element("div", "where", f[0]));
      var bytes = element("div", "bytes");
      bytes.appendChild(element("code", "", f[1]));
      bytes.appendChild(element("span", "count", " " + f[2]));
      item.appendChild(bytes);
      box.appendChild(item);
    });
  }

  function highlight(step) {
    Array.prototype.forEach.call(svg ? svg.querySelectorAll(".current") : [], function (node) {
      node.classList.remove("current");
    });
    var row = rows[String(step.n)];
    if (!row || !cursor) return;
    row.classList.add("current");
    var y = parseFloat(row.getAttribute("data-y")), height = parseFloat(row.getAttribute("data-h") || "28");
    cursor.setAttribute("height", String(height));
    cursor.setAttribute("y", String(y - height / 2));
    var box = document.getElementById("diagram");
    var view = svg.viewBox.baseVal, scale = svg.getBoundingClientRect().height / view.height;
    var top = svg.getBoundingClientRect().top - box.getBoundingClientRect().top + box.scrollTop + (y - view.y) * scale;
    var head = document.querySelector("#diagram .lanes-head");
    var above = head ? head.getBoundingClientRect().height : 0;  // the lanes' names, kept in sight
    if (top < box.scrollTop + above + 40 || top > box.scrollTop + box.clientHeight - 60) {
      box.scrollTop = Math.max(top - above - (box.clientHeight - above) / 3, 0);
    }
  }

  function show(i, fromHash) {
    if (!steps.length) {
      document.getElementById("position").textContent = "nothing was traced: no step to show";
      return;
    }
    i = Math.max(0, Math.min(steps.length - 1, i));
    var step = steps[i], previous = i > 0 ? steps[i - 1] : null;
    index = i;
    document.getElementById("position").textContent =
      "step " + step.n + " of " + data.total + (steps.length < data.total ? " (" + steps.length + " on this page)" : "");
    document.getElementById("event-time").textContent = step.t;
    var who = document.getElementById("event-who");
    who.textContent = step.who;
    who.style.color = colour(step.pid);
    document.getElementById("event-text").textContent = step.text;
    document.getElementById("event-detail").textContent = step.detail;
    processes(step, previous);
    centre();
    source(step);
    flight(step);
    highlight(step);
    document.getElementById("prev").disabled = i === 0;
    document.getElementById("first").disabled = i === 0;
    document.getElementById("next").disabled = i === steps.length - 1;
    document.getElementById("last").disabled = i === steps.length - 1;
    if (!fromHash && window.history && window.history.replaceState) {
      window.history.replaceState(null, "", "#step=" + step.n);
    }
  }

  function fromHash() {
    var match = /step=(\d+)/.exec(window.location.hash);
    return match ? position(parseInt(match[1], 10)) : 0;
  }

  document.getElementById("first").addEventListener("click", function () { show(0); });
  document.getElementById("prev").addEventListener("click", function () { show(index - 1); });
  document.getElementById("next").addEventListener("click", function () { show(index + 1); });
  document.getElementById("last").addEventListener("click", function () { show(steps.length - 1); });
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: steps.length - 1 };
    if (e.key in moves) {
      e.preventDefault();
      show(moves[e.key]);
    }
  });
  window.addEventListener("hashchange", function () { show(fromHash(), true); });
  if (svg) {
    svg.addEventListener("click", function (e) {
      var row = e.target.closest ? e.target.closest("[data-step]") : null;
      if (row) show(position(parseInt(row.getAttribute("data-step"), 10)));
    });
  }
  show(fromHash(), true);
})();
