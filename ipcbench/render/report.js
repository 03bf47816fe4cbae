// ipcbench report explorer: draws each run's rows (JSON written by interactive.py) as
// an SVG line chart (figure vs message size) and a ranking (bars with CI whiskers).
// No library and no network: the page must work offline from one file. Every number
// shown arrives formatted by ipcbench.core.units; this script only positions and draws.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var TOP = 6;
  var Y_CHOICES = [["figure", "figure of merit"], ["cpu", "CPU time / message"],
                   ["eff", "efficiency vs baseline"]];

  function el(tag, attrs, parent, text) {
    var node = tag.indexOf("svg:") === 0 ? document.createElementNS(NS, tag.slice(4))
                                          : document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function unique(values) {
    var seen = [];
    values.forEach(function (v) { if (seen.indexOf(v) < 0) { seen.push(v); } });
    return seen;
  }

  function Explorer(root, data) {
    this.root = root;
    this.data = data;
    this.rows = data.rows.map(function (r) {
      var o = {};
      data.fields.forEach(function (f, i) { o[f] = r[i]; });
      return o;
    });
    this.state = {y: "figure"};
    this.shown = null;
    this.build();
  }

  Explorer.prototype.build = function () {
    var self = this;
    this.controls = el("div", {"class": "controls"}, this.root);
    this.selects = {};
    [["pattern", "pattern"], ["placement", "placement"], ["payload", "payload"],
     ["procs", "processes"], ["size", "ranking at size"], ["y", "y axis"]].forEach(function (c) {
      var label = el("label", {}, self.controls, c[1] + " ");
      var select = el("select", {"data-dim": c[0]}, label);
      select.addEventListener("change", function () {
        self.state[c[0]] = select.value;
        if (c[0] !== "size") { self.shown = null; }
        self.update();
      });
      self.selects[c[0]] = select;
    });
    var buttons = el("span", {"class": "buttons"}, this.controls);
    el("button", {type: "button"}, buttons, "top " + TOP).addEventListener("click", function () {
      self.shown = null; self.update();
    });
    el("button", {type: "button"}, buttons, "all").addEventListener("click", function () {
      self.shown = self.channelsHere(); self.update();
    });
    this.legend = el("div", {"class": "legend"}, this.root);
    var charts = el("div", {"class": "charts"}, this.root);
    this.lineBox = el("div", {"class": "linechart"}, charts);
    this.barBox = el("div", {"class": "barchart"}, charts);
    this.tip = el("div", {"class": "tip", hidden: ""}, document.body);
    this.update();
  };

  Explorer.prototype.options = function (dim, rows) {
    var data = this.data;
    var values = unique(rows.map(function (r) { return r[dim]; }));
    if (dim === "pattern") { return Object.keys(data.patterns).filter(function (p) {
      return values.indexOf(p) >= 0; }); }
    if (dim === "placement") { return data.placements.filter(function (p) {
      return values.indexOf(p) >= 0; }); }
    if (dim === "payload") { return data.payloads.filter(function (p) {
      return values.indexOf(p) >= 0; }); }
    return values.sort(function (a, b) { return a - b; }).map(String);
  };

  Explorer.prototype.fill = function (dim, values, label) {
    var select = this.selects[dim];
    var current = this.state[dim];
    if (values.indexOf(String(current)) < 0) { current = values[0]; }
    this.state[dim] = current;
    select.textContent = "";
    values.forEach(function (v) {
      var option = el("option", {value: v}, select, label ? label(v) : v);
      if (String(v) === String(current)) { option.selected = true; }
    });
  };

  Explorer.prototype.where = function (dims) {
    var s = this.state;
    return this.rows.filter(function (r) {
      return dims.every(function (d) { return String(r[d]) === String(s[d]); });
    });
  };

  Explorer.prototype.pattern = function () { return this.data.patterns[this.state.pattern]; };

  // The y value, its unit and direction for the chosen axis.
  Explorer.prototype.measure = function () {
    var p = this.pattern();
    if (this.state.y === "cpu") {
      return {key: "cpu_ns", text: "cpu", unit: "ns", higher: false, label: "CPU time / message"};
    }
    if (this.state.y === "eff") {
      return {key: "eff", text: "eff_text", unit: "fraction", higher: true, label: "efficiency"};
    }
    return {key: "value", text: "text", unit: p.unit, higher: p.higher, label: p.label,
            low: "low", high: "high"};
  };

  Explorer.prototype.channelsHere = function () {
    return unique(this.lineRows().map(function (r) { return r.channel; }));
  };

  // Rows of the line chart: x is the size (or procs for the unsized counter).
  Explorer.prototype.lineRows = function () {
    var dims = this.pattern().sized ? ["pattern", "placement", "payload", "procs"]
                                    : ["pattern", "placement", "payload"];
    var m = this.measure();
    return this.where(dims).filter(function (r) { return r[m.key] > 0; });
  };

  // The TOP channels whose points are closest to the best of their x, on average.
  Explorer.prototype.topChannels = function (rows, m, xKey) {
    var best = {};
    rows.forEach(function (r) {
      var b = best[r[xKey]];
      if (b === undefined || (m.higher ? r[m.key] > b : r[m.key] < b)) { best[r[xKey]] = r[m.key]; }
    });
    var score = {}, count = {};
    rows.forEach(function (r) {
      var ratio = m.higher ? best[r[xKey]] / r[m.key] : r[m.key] / best[r[xKey]];
      score[r.channel] = (score[r.channel] || 0) + Math.log(ratio);
      count[r.channel] = (count[r.channel] || 0) + 1;
    });
    var xs = Object.keys(best).length;
    return Object.keys(score).map(Number).sort(function (a, b) {
      return (score[a] / count[a] + (1 - count[a] / xs)) - (score[b] / count[b] + (1 - count[b] / xs));
    }).slice(0, TOP);
  };

  Explorer.prototype.update = function () {
    var self = this;
    this.fill("pattern", this.options("pattern", this.rows));
    var sized = this.pattern().sized;
    this.fill("placement", this.options("placement", this.where(["pattern"])));
    this.fill("payload", this.options("payload", this.where(["pattern", "placement"])));
    this.fill("procs", this.options("procs", this.where(["pattern", "placement", "payload"])));
    this.fill("size", this.options("size", this.where(["pattern", "placement", "payload",
                                                       "procs"])),
              function (v) { return self.data.sizes[v] || v; });
    this.fill("y", Y_CHOICES.map(function (c) { return c[0]; }), function (v) {
      return Y_CHOICES.filter(function (c) { return c[0] === v; })[0][1];
    });
    this.selects.size.disabled = !sized;
    var m = this.measure();
    var rows = this.lineRows();
    var xKey = sized ? "size" : "procs";
    if (this.shown === null) { this.shown = this.topChannels(rows, m, xKey); }
    this.drawLegend(rows);
    this.drawLines(rows, m, xKey);
    var ranked = sized ? rows.filter(function (r) { return String(r.size) === self.state.size; })
                       : rows.filter(function (r) { return String(r.procs) === self.state.procs; });
    this.drawBars(ranked, m);
  };

  Explorer.prototype.drawLegend = function (rows) {
    var self = this;
    this.legend.textContent = "";
    unique(rows.map(function (r) { return r.channel; })).sort(function (a, b) {
      return self.data.channels[a].name < self.data.channels[b].name ? -1 : 1;
    }).forEach(function (c) {
      var channel = self.data.channels[c];
      var on = self.shown.indexOf(c) >= 0;
      var item = el("button", {type: "button", "class": on ? "on" : "off",
                               "aria-pressed": String(on)}, self.legend);
      el("span", {"class": "swatch", style: "background:" + channel.color}, item);
      item.appendChild(document.createTextNode(channel.name));
      item.addEventListener("click", function () {
        var at = self.shown.indexOf(c);
        if (at >= 0) { self.shown.splice(at, 1); } else { self.shown.push(c); }
        self.update();
      });
    });
  };

  Explorer.prototype.showTip = function (event, lines) {
    this.tip.textContent = "";
    var tip = this.tip;
    lines.forEach(function (line) { el("div", {}, tip, line); });
    tip.hidden = false;
    tip.style.left = (event.pageX + 12) + "px";
    tip.style.top = (event.pageY + 12) + "px";
  };

  Explorer.prototype.hover = function (node, r, m) {
    var self = this;
    var lines = [this.data.channels[r.channel].name,
                 (this.pattern().sized ? this.data.sizes[r.size] + ", " : "") +
                   this.pattern().procs + ": " + r.procs + ", " + r.placement + ", " + r.payload,
                 m.label + ": " + r[m.text]];
    if (m.low) { lines.push("95% CI: " + r.ci); }
    var p = this.pattern();
    if (r.p99 && p.p99) { lines.push(p.p99 + ": " + r.p99); }
    if (r.spread) { lines.push(p.spread + ": " + r.spread); }
    lines.push("CPU/msg: " + r.cpu + " · efficiency: " + r.eff_text);
    if (r.noisy) { lines.push("noisy: may not reproduce"); }
    node.addEventListener("mousemove", function (e) { self.showTip(e, lines); });
    node.addEventListener("mouseleave", function () { self.tip.hidden = true; });
  };

  function logScale(lo, hi, a, b) {
    var l0 = Math.log(lo), l1 = Math.log(hi);
    if (l1 - l0 < 1e-9) { l0 -= 0.5; l1 += 0.5; }
    return function (v) { return a + (Math.log(v) - l0) / (l1 - l0) * (b - a); };
  }

  Explorer.prototype.yTicks = function (lo, hi, unit) {
    var all = (this.data.ticks[unit] || []).filter(function (t) { return t[0] >= lo && t[0] <= hi; });
    var decades = all.filter(function (t) { return t[2]; });
    return decades.length >= 3 ? decades : all;
  };

  Explorer.prototype.frame = function (box, width, height, title) {
    box.textContent = "";
    el("h4", {}, box, title);
    return el("svg:svg", {viewBox: "0 0 " + width + " " + height, width: width,
                          height: height, role: "img"}, box);
  };

  Explorer.prototype.drawLines = function (rows, m, xKey) {
    var self = this, W = 620, H = 360, L = 78, R = 12, T = 10, B = 44;
    var p = this.pattern();
    var svg = this.frame(this.lineBox, W, H, m.label + " vs " + (p.sized ? "message size" :
      p.procs) + (p.sized ? " (" + p.procs + ": " + this.state.procs + ")" : ""));
    var shownRows = rows.filter(function (r) { return self.shown.indexOf(r.channel) >= 0; });
    if (!shownRows.length) { el("svg:text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, svg,
                                "no channel selected"); return; }
    var xs = unique(rows.map(function (r) { return r[xKey]; })).sort(function (a, b) { return a - b; });
    var ys = shownRows.map(function (r) { return r[m.key]; });
    var lo = Math.min.apply(null, ys) / 1.3, hi = Math.max.apply(null, ys) * 1.3;
    var x = logScale(xs[0], xs[xs.length - 1], L + 10, W - R - 10);
    var y = logScale(lo, hi, H - B, T);
    this.yTicks(lo, hi, m.unit).forEach(function (t) {
      el("svg:line", {x1: L, x2: W - R, y1: y(t[0]), y2: y(t[0]), "class": "grid"}, svg);
      el("svg:text", {x: L - 6, y: y(t[0]) + 4, "text-anchor": "end"}, svg, t[1]);
    });
    xs.forEach(function (v) {
      el("svg:text", {x: x(v), y: H - B + 18, "text-anchor": "middle"}, svg,
         xKey === "size" ? self.data.sizes[v] : String(v));
    });
    el("svg:text", {x: (L + W) / 2, y: H - 6, "text-anchor": "middle", "class": "axis"}, svg,
       xKey === "size" ? "message size" : p.procs);
    this.shown.forEach(function (c) {
      var points = shownRows.filter(function (r) { return r.channel === c; })
        .sort(function (a, b) { return a[xKey] - b[xKey]; });
      var color = self.data.channels[c].color;
      el("svg:polyline", {points: points.map(function (r) {
        return x(r[xKey]).toFixed(1) + "," + y(r[m.key]).toFixed(1); }).join(" "),
        fill: "none", stroke: color, "stroke-width": 2}, svg);
      points.forEach(function (r) {
        var dot = el("svg:circle", {cx: x(r[xKey]), cy: y(r[m.key]), r: 4.5, stroke: color,
                                    fill: r.noisy ? "#fff" : color, "stroke-width": 1.5}, svg);
        self.hover(dot, r, m);
      });
    });
  };

  Explorer.prototype.drawBars = function (rows, m) {
    var self = this, p = this.pattern();
    var ranked = rows.slice().sort(function (a, b) {
      return m.higher ? b[m.key] - a[m.key] : a[m.key] - b[m.key]; });
    var W = 520, L = 150, R = 70, T = 6, step = 19, H = T + step * ranked.length + 26;
    var where = p.sized ? this.data.sizes[this.state.size] + ", " : "";
    var svg = this.frame(this.barBox, W, H, "ranking: " + where + p.procs + " " +
                         this.state.procs + " (best first; whiskers: 95% CI)");
    var top = Math.max.apply(null, ranked.map(function (r) {
      return Math.max(r[m.key], m.high && r[m.high] ? r[m.high] : 0); }).concat([0]));
    var x = function (v) { return L + v / top * (W - L - R); };
    ranked.forEach(function (r, i) {
      var cy = T + i * step + step / 2, channel = self.data.channels[r.channel];
      el("svg:text", {x: L - 6, y: cy + 4, "text-anchor": "end"}, svg, channel.name);
      var bar = el("svg:rect", {x: L, y: cy - 7, width: Math.max(1, x(r[m.key]) - L), height: 14,
                                fill: channel.color}, svg);
      self.hover(bar, r, m);
      var end = x(r[m.key]);
      if (m.low && r[m.low] && r[m.high]) {
        el("svg:line", {x1: x(r[m.low]), x2: x(r[m.high]), y1: cy, y2: cy, "class": "ci"}, svg);
        end = Math.max(end, x(r[m.high]));
      }
      el("svg:text", {x: end + 4, y: cy + 4}, svg, r[m.text]);
    });
  };

  function start() {
    var roots = document.querySelectorAll(".explorer");
    Array.prototype.forEach.call(roots, function (root) {
      var source = document.getElementById(root.getAttribute("data-source"));
      new Explorer(root, JSON.parse(source.textContent));
    });
    // A marker for tests (and people): every explorer was drawn without an error.
    el("div", {id: "ipcbench-ready", "data-explorers": String(roots.length), hidden: ""},
       document.body);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
