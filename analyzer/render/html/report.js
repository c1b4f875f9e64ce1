// The connleak HTML report: reads the report from the JSON element and
// draws it. Strings from the trace (argv, paths, peers, function names) are
// only ever shown through textContent and canvas text, never parsed as
// markup. The timeline is one canvas that draws only the rows in view, so
// 10 k connections cost no more than the few hundred on screen.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("connleak-data").textContent);
  const bars = data.bars;
  const processes = data.processes;

  const ROW = 14;          // px per lane row
  const AXIS = 26;         // px of time axis at the top of the canvas
  const GUTTER = 300;      // px of lane labels at the left
  const INDENT = 14;       // px per level of the process tree
  const colors = readColors();

  // ---- formatting ----
  function duration(ns) {
    if (ns < 1e3) return Math.round(ns) + " ns";
    if (ns < 1e6) return (ns / 1e3).toFixed(ns < 1e4 ? 2 : 1) + " µs";
    if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 2 : 1) + " ms";
    if (ns < 60e9) return (ns / 1e9).toFixed(ns < 1e10 ? 2 : 1) + " s";
    const min = Math.floor(ns / 60e9);
    if (min < 60) return min + " min " + Math.round((ns - min * 60e9) / 1e9) + " s";
    return Math.floor(min / 60) + " h " + (min % 60) + " min";
  }
  function commandOf(p) { return p.argv.length ? p.argv.join(" ") : p.exe; }
  function processName(i) { const p = processes[i]; return "pid " + p.pid + ": " + commandOf(p); }
  function endOf(p) {
    if (p.end_kind === "exit") return p.exit_status === null ? "exited" : "exit " + p.exit_status;
    if (p.end_kind === "signal") return p.signal === null ? "killed by a signal" : "signal " + p.signal;
    if (p.end_kind === "exec") return "exec'd";
    if (p.end_kind === "running") return "still running";
    return "ended, unknown how";
  }
  function barTitle(b) {
    if (b.k === "session") return b.api + " session " + b.handle;
    const what = b.protocol || b.family;
    if (b.peer) return what + " " + (b.accepted ? "from " : "to ") + b.peer;
    if (b.listening && b.local) return what + " listening on " + b.local;
    return what + " socket, fd " + b.fd;
  }
  function frameText(f) {
    const where = f.file ? f.file + ":" + f.line : (f.module ? f.module + "+" + f.offset : "");
    return [f.function || "??", where];
  }
  function severityOf(kind) {
    const f = data.findings.find((x) => x.kind === kind);
    return f ? f.severity : "error";
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function readColors() {
    const style = getComputedStyle(document.documentElement);
    const c = {};
    for (const name of ["connection", "socket", "session", "error", "warning", "close-wait", "ink", "muted", "line"]) {
      c[name] = style.getPropertyValue("--" + name).trim();
    }
    return c;
  }

  // ---- header, findings, processes ----
  function showHeader() {
    const roots = processes.filter((p) => p.parent < 0);
    document.getElementById("command").textContent = roots.length ? "$ " + commandOf(roots[0]) : "";
    if (roots.length) document.title = "connleak: " + commandOf(roots[0]);
    document.getElementById("summary-line").textContent = data.summary_line;
    const counts = document.getElementById("summary-counts");
    const s = data.summary;
    for (const [label, value] of [["errors", s.errors], ["warnings", s.warnings], ["processes", s.processes],
      ["sockets opened", s.sockets_opened], ["sessions created", s.sessions_created]]) {
      const li = el("li");
      li.append(el("b", String(value)), " " + label);
      counts.append(li);
    }
    const started = new Date(Number(BigInt(data.origin_unix_ns) / 1000000n));
    document.getElementById("tool").textContent =
      "connleak " + data.tool.version + " · run started " + started.toISOString() + " · " +
      bars.length + " sessions and sockets";
    if (data.bars_not_drawn > 0) {
      const note = document.getElementById("not-drawn");
      note.textContent = data.bars_not_drawn + " more closed sockets were not kept for the timeline; " +
        "leaks and counts above are complete.";
      note.hidden = false;
    }
  }

  function showFindings() {
    const list = document.getElementById("findings");
    if (!data.findings.length) document.getElementById("no-findings").hidden = false;
    data.findings.forEach((f, index) => {
      const li = el("li");
      li.dataset.finding = String(index);
      li.append(el("span", f.kind, "kind " + f.severity), el("span", f.message, "message"));
      const top = f.stack.find((fr) => fr.file) || f.stack[0];
      if (top) li.append(el("span", frameText(top).join("  "), "where"));
      li.addEventListener("click", () => {
        const first = bars.findIndex((b) => b.fi === index);
        if (first >= 0) revealBar(first, true);
      });
      list.append(li);
    });
  }

  function showProcesses() {
    const body = document.querySelector("#processes tbody");
    processes.forEach((p, i) => {
      const tr = el("tr");
      tr.dataset.process = String(i);
      tr.append(el("td", String(p.pid), "num"),
        el("td", p.parent >= 0 ? p.origin + " of " + processes[p.parent].pid : String(p.ppid), "num"),
        el("td", commandOf(p), "command"), el("td", p.exe, "exe"),
        el("td", "+" + duration(p.start), "num"), el("td", duration(p.end - p.start), "num"),
        el("td", endOf(p), "num"));
      body.append(tr);
    });
  }

  // ---- filters ----
  const kindsPresent = [...new Set(bars.map((b) => b.finding || ""))].sort();
  const shownKinds = new Set(kindsPresent);
  let processFilter = null;  // a set of process indices, or null for all
  let peerFilter = "";

  function setUpFilters() {
    const box = document.getElementById("kind-filter");
    box.hidden = kindsPresent.length === 0;
    for (const kind of kindsPresent) {
      const label = el("label");
      const input = el("input");
      input.type = "checkbox";
      input.checked = true;
      input.value = kind;
      input.addEventListener("change", () => {
        if (input.checked) shownKinds.add(kind); else shownKinds.delete(kind);
        relayout();
      });
      label.append(input, " " + (kind || "no finding"));
      box.append(label);
    }
    const select = document.getElementById("process-filter");
    processes.forEach((p, i) => {
      const option = el("option", processName(i));
      option.value = String(i);
      select.append(option);
    });
    select.addEventListener("change", () => {
      processFilter = select.value === "" ? null : withDescendants(Number(select.value));
      relayout();
    });
    const peer = document.getElementById("peer-filter");
    peer.addEventListener("input", () => { peerFilter = peer.value.trim(); relayout(); });
  }

  function withDescendants(root) {
    const set = new Set([root]);
    let grew = true;
    while (grew) {
      grew = false;
      processes.forEach((p, i) => {
        if (p.parent >= 0 && set.has(p.parent) && !set.has(i)) { set.add(i); grew = true; }
      });
    }
    return set;
  }

  function matchesPeer(b, i) {
    if (!peerFilter) return true;
    if (b.k === "session") return sessionsWithPeer.has(i);
    return (b.peer || "").includes(peerFilter) || (b.local || "").includes(peerFilter);
  }
  let sessionsWithPeer = new Set();

  function visible(b) {
    if (!shownKinds.has(b.finding || "")) return false;
    if (processFilter && !processFilter.has(b.p)) return false;
    return true;
  }

  // ---- layout: process rows in tree order, then packed lanes of bars ----
  let rows = [];  // {process, depth, bars: [indices] | null (the process's own row)}
  function treeOrder() {
    const children = processes.map(() => []);
    const roots = [];
    processes.forEach((p, i) => (p.parent >= 0 ? children[p.parent] : roots).push(i));
    const byStart = (a, b) => processes[a].start - processes[b].start || a - b;
    const order = [];
    const stack = roots.sort(byStart).reverse().map((i) => [i, 0]);
    while (stack.length) {
      const [i, depth] = stack.pop();
      order.push([i, depth]);
      for (const c of children[i].sort(byStart).reverse()) stack.push([c, depth + 1]);
    }
    return order;
  }
  const processOrder = treeOrder();
  const barsOf = processes.map(() => []);
  bars.forEach((b, i) => barsOf[b.p].push(i));

  // First fit by the lane that frees up first: bars arrive sorted by start.
  function pack(indices) {
    const lanes = [];
    const heap = [];  // [end, lane], smallest end first
    const push = (item) => {
      heap.push(item);
      for (let i = heap.length - 1; i > 0;) {
        const up = (i - 1) >> 1;
        if (heap[up][0] <= heap[i][0]) break;
        [heap[up], heap[i]] = [heap[i], heap[up]];
        i = up;
      }
    };
    const pop = () => {
      const top = heap[0];
      const last = heap.pop();
      if (heap.length) {
        heap[0] = last;
        for (let i = 0; ;) {
          const l = 2 * i + 1, r = l + 1;
          let m = i;
          if (l < heap.length && heap[l][0] < heap[m][0]) m = l;
          if (r < heap.length && heap[r][0] < heap[m][0]) m = r;
          if (m === i) break;
          [heap[m], heap[i]] = [heap[i], heap[m]];
          i = m;
        }
      }
      return top;
    };
    for (const i of indices) {
      const b = bars[i];
      let lane;
      if (heap.length && heap[0][0] < b.t0) lane = pop()[1];
      else { lane = lanes.length; lanes.push([]); }
      lanes[lane].push(i);
      push([b.t1, lane]);
    }
    return lanes;
  }

  function relayout() {
    sessionsWithPeer = new Set();
    if (peerFilter) {
      for (const b of bars) {
        if (b.k !== "session" && b.session !== undefined && matchesPeer(b, -1)) sessionsWithPeer.add(b.session);
      }
    }
    rows = [];
    for (const [p, depth] of processOrder) {
      if (processFilter && !processFilter.has(p)) continue;
      rows.push({ process: p, depth, bars: null });
      const sessions = [], sockets = [];
      for (const i of barsOf[p]) {
        const b = bars[i];
        if (!visible(b) || !matchesPeer(b, i)) continue;
        (b.k === "session" ? sessions : sockets).push(i);
      }
      for (const lane of pack(sessions)) rows.push({ process: p, depth, bars: lane, label: "sessions" });
      for (const lane of pack(sockets)) rows.push({ process: p, depth, bars: lane, label: "sockets" });
    }
    for (const r of rows) {
      if (!r.bars) continue;
      // Lanes hold bars that do not overlap, so ends are sorted as starts are.
      r.ends = r.bars.map((i) => bars[i].t1);
    }
    rowOfBar = new Map();
    rows.forEach((r, ri) => r.bars && r.bars.forEach((i) => rowOfBar.set(i, ri)));
    resize();
  }
  let rowOfBar = new Map();

  // ---- view: the time range shown, zoom and pan ----
  const span = Math.max(data.span, 1);
  let view = { t0: 0, t1: span };
  const container = document.getElementById("timeline");
  const canvas = document.getElementById("timeline-canvas");
  const spacer = document.getElementById("timeline-spacer");
  const ctx = canvas.getContext("2d");
  let width = 0, height = 0;
  let selected = -1, hovered = -1;

  function plotWidth() { return Math.max(width - GUTTER - 8, 10); }
  function xOf(t) { return GUTTER + (t - view.t0) / (view.t1 - view.t0) * plotWidth(); }
  function tOf(x) { return view.t0 + (x - GUTTER) / plotWidth() * (view.t1 - view.t0); }

  function setView(t0, t1) {
    const minSpan = 1000;  // 1 µs
    let length = Math.max(t1 - t0, minSpan);
    length = Math.min(length, span * 1.2);
    t0 = Math.max(Math.min(t0, span - length * 0.1), -length * 0.1);
    view = { t0, t1: t0 + length };
    document.getElementById("view-range").textContent =
      "+" + duration(Math.max(view.t0, 0)) + " … +" + duration(Math.max(view.t1, 0)) +
      " (" + duration(length) + " shown)";
    draw();
  }
  function zoom(factor, atX) {
    const at = atX === undefined ? (view.t0 + view.t1) / 2 : tOf(atX);
    setView(at - (at - view.t0) * factor, at + (view.t1 - at) * factor);
  }
  function fit() { setView(-span * 0.01, span * 1.01); }

  function resize() {
    const ratio = window.devicePixelRatio || 1;
    const content = AXIS + rows.length * ROW + 4;
    // As tall as its rows, up to most of the window; then it scrolls.
    container.style.height = Math.min(content + 2, Math.max(window.innerHeight * 0.62, 280)) + "px";
    width = container.clientWidth;
    height = Math.max(Math.min(container.clientHeight, content), AXIS + ROW);
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.height = height + "px";
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    spacer.style.height = Math.max(AXIS + rows.length * ROW + 4 - height, 0) + "px";
    draw();
  }

  // ---- drawing ----
  function barColor(b) {
    if (b.finding) return colors[severityOf(b.finding)];
    return colors[b.k];
  }

  function draw() {
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const top = container.scrollTop;
    const first = Math.max(Math.floor(top / ROW), 0);
    const last = Math.min(Math.ceil((top + height - AXIS) / ROW), rows.length);
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, AXIS, width, height - AXIS);
    ctx.clip();
    for (let r = first; r < last; r++) drawRow(r, AXIS + r * ROW - top);
    ctx.restore();
    drawAxis();
    drawn = true;
  }
  let drawn = false;

  function drawRow(r, y) {
    const row = rows[r];
    if (!row.bars) {
      ctx.fillStyle = "#f6f7f9";
      ctx.fillRect(0, y, width, ROW);
      drawProcessRow(row, y);
      return;
    }
    ctx.fillStyle = colors.muted;
    if (r > 0 && rows[r - 1].label !== row.label) {
      ctx.fillText(row.label, 8 + INDENT * (row.depth + 1), y + ROW / 2);
    }
    const ends = row.ends;
    // The first bar that ends after the view starts.
    let lo = 0, hi = ends.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ends[mid] < view.t0) lo = mid + 1; else hi = mid; }
    let lastPixel = -1;
    for (let k = lo; k < row.bars.length; k++) {
      const i = row.bars[k];
      const b = bars[i];
      if (b.t0 > view.t1) break;
      const x0 = Math.max(xOf(b.t0), GUTTER), x1 = Math.min(xOf(b.t1), width);
      // Bars under one pixel that fall on a pixel already drawn add nothing.
      if (x1 - x0 < 1 && Math.floor(x0) === lastPixel && i !== selected && i !== hovered) continue;
      lastPixel = Math.floor(x0);
      drawBar(i, b, x0, Math.max(x1, x0 + 1), y);
    }
  }

  function drawBar(i, b, x0, x1, y) {
    const color = barColor(b);
    const h = ROW - 4;
    ctx.fillStyle = color;
    const idleFrom = b.ta !== undefined ? b.ta : (b.tc !== undefined ? b.tc : b.t0);
    const xi = Math.min(Math.max(xOf(idleFrom), x0), x1);
    ctx.globalAlpha = 1;
    ctx.fillRect(x0, y + 2, xi - x0, h);
    ctx.globalAlpha = 0.4;
    ctx.fillRect(xi, y + 2, x1 - xi, h);
    ctx.globalAlpha = 1;
    if (b.finding && x1 - xi > 2) {
      // A finding's idle stretch keeps its colour at the edges, to stand out.
      ctx.fillRect(xi, y + 2, x1 - xi, 1);
      ctx.fillRect(xi, y + 1 + h, x1 - xi, 1);
    }
    if (b.tcp === "CLOSE_WAIT") {
      ctx.fillStyle = colors["close-wait"];
      const w = Math.min(8, x1 - x0);
      ctx.fillRect(x1 - w, y + 1, w, h + 2);
    }
    if (b.open && b.finding) {
      // Never closed: the bar runs off its process's end, arrow-like.
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.moveTo(x1, y + 1);
      ctx.lineTo(x1 + 5, y + ROW / 2);
      ctx.lineTo(x1, y + ROW - 1);
      ctx.fill();
    }
    if (i === selected || i === hovered) {
      ctx.strokeStyle = i === selected ? colors.ink : colors.muted;
      ctx.lineWidth = i === selected ? 2 : 1;
      ctx.strokeRect(x0 - 0.5, y + 1.5, x1 - x0 + 1, h + 1);
    }
  }

  function drawProcessRow(row, y) {
    const p = processes[row.process];
    const x0 = Math.max(xOf(p.start), GUTTER), x1 = Math.min(xOf(p.end), width);
    if (x1 >= GUTTER && x0 <= width) {
      ctx.fillStyle = colors.line;
      ctx.fillRect(x0, y + 5, Math.max(x1 - x0, 1), ROW - 10);
    }
    if (p.summarized_before > 0) {
      ctx.fillStyle = "rgba(233, 154, 0, .25)";
      const xs = Math.min(xOf(p.summarized_before), width);
      ctx.fillRect(x0, y + 2, Math.max(xs - x0, 0), ROW - 4);
    }
    for (const m of marksOf[row.process]) drawMark(m, y);
    ctx.fillStyle = colors.ink;
    const label = (p.origin ? p.origin + " " : "") + processName(row.process) + " (" + endOf(p) + ")";
    fitText(label, 6 + INDENT * row.depth, y + ROW / 2, GUTTER - 12 - INDENT * row.depth);
  }

  function drawMark(m, y) {
    const x = xOf(m.t);
    if (x < GUTTER || x > width) return;
    ctx.fillStyle = m.k === "bad-close" ? colors.error : colors.ink;
    ctx.beginPath();
    if (m.k === "fork") { ctx.moveTo(x - 4, y + 1); ctx.lineTo(x + 4, y + 1); ctx.lineTo(x, y + ROW - 3); }
    else if (m.k === "exec") { ctx.rect(x - 1, y + 1, 2, ROW - 2); }
    else { ctx.arc(x, y + ROW / 2, 4, 0, 2 * Math.PI); }
    ctx.fill();
  }

  function fitText(text, x, y, room) {
    if (ctx.measureText(text).width <= room) { ctx.fillText(text, x, y); return; }
    let lo = 0, hi = text.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ctx.measureText(text.slice(0, mid) + "…").width <= room) lo = mid; else hi = mid - 1;
    }
    ctx.fillText(text.slice(0, lo) + "…", x, y);
  }

  function drawAxis() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, AXIS);
    ctx.strokeStyle = colors.line;
    ctx.beginPath();
    ctx.moveTo(0, AXIS - 0.5);
    ctx.lineTo(width, AXIS - 0.5);
    ctx.stroke();
    const length = view.t1 - view.t0;
    const target = length / Math.max(plotWidth() / 110, 1);
    const power = Math.pow(10, Math.floor(Math.log10(target)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= target);
    ctx.fillStyle = colors.muted;
    ctx.textBaseline = "middle";
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      const x = xOf(t);
      if (x < GUTTER) continue;
      ctx.fillRect(x, AXIS - 6, 1, 6);
      ctx.fillText("+" + duration(Math.max(t, 0)), x + 3, AXIS / 2);
    }
    ctx.fillStyle = colors.ink;
    ctx.fillText("process / lane", 6, AXIS / 2);
  }

  const marksOf = processes.map(() => []);
  for (const m of data.marks) marksOf[m.p].push(m);

  // ---- hit testing, hover, click ----
  function barAt(x, y) {
    if (x < GUTTER || y < AXIS) return -1;
    const r = Math.floor((y - AXIS + container.scrollTop) / ROW);
    const row = rows[r];
    if (!row || !row.bars) return -1;
    const tolerance = 3 * (view.t1 - view.t0) / plotWidth();
    const t = tOf(x);
    let lo = 0, hi = row.ends.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (row.ends[mid] < t - tolerance) lo = mid + 1; else hi = mid; }
    for (let k = lo; k < row.bars.length; k++) {
      const b = bars[row.bars[k]];
      if (b.t0 > t + tolerance) break;
      return row.bars[k];
    }
    return -1;
  }
  function processRowAt(y) {
    const row = rows[Math.floor((y - AXIS + container.scrollTop) / ROW)];
    return row && !row.bars && y >= AXIS ? row.process : -1;
  }

  const tooltip = document.getElementById("tooltip");
  function showTooltip(i, event) {
    const b = bars[i];
    const lines = [barTitle(b)];
    if (b.finding) lines.push(b.finding);
    lines.push("open " + duration(b.t1 - b.t0) + (b.open ? " (never closed)" : ""));
    if (b.ta !== undefined) lines.push("idle " + duration(b.t1 - b.ta) + " at the end");
    if (b.tcp) lines.push(b.tcp);
    const top = data.stacks[b.stack] && data.stacks[b.stack].find((f) => f.file);
    if (top) lines.push(frameText(top).join("  "));
    tooltip.textContent = lines.join("\n");
    tooltip.hidden = false;
    tooltip.style.left = Math.min(event.clientX + 14, window.innerWidth - 420) + "px";
    tooltip.style.top = (event.clientY + 16) + "px";
  }

  let drag = null;
  canvas.addEventListener("mousedown", (e) => {
    drag = { x: e.clientX, t0: view.t0, t1: view.t1, moved: false };
    canvas.classList.add("dragging");
  });
  window.addEventListener("mouseup", () => { drag = null; canvas.classList.remove("dragging"); });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    if (Math.abs(dx) > 2) drag.moved = true;
    const dt = dx / plotWidth() * (drag.t1 - drag.t0);
    setView(drag.t0 - dt, drag.t1 - dt);
  });
  canvas.addEventListener("mousemove", (e) => {
    const rect = canvas.getBoundingClientRect();
    const i = drag ? -1 : barAt(e.clientX - rect.left, e.clientY - rect.top);
    if (i !== hovered) { hovered = i; draw(); }
    if (i >= 0) showTooltip(i, e); else tooltip.hidden = true;
  });
  canvas.addEventListener("mouseleave", () => { tooltip.hidden = true; if (hovered >= 0) { hovered = -1; draw(); } });
  canvas.addEventListener("click", (e) => {
    if (drag && drag.moved) return;
    const rect = canvas.getBoundingClientRect();
    const x = e.clientX - rect.left, y = e.clientY - rect.top;
    const i = barAt(x, y);
    if (i >= 0) { selectBar(i); return; }
    const p = processRowAt(y);
    if (p >= 0) showProcess(p);
  });
  canvas.addEventListener("wheel", (e) => {
    if (e.ctrlKey || e.metaKey) {
      e.preventDefault();
      zoom(Math.pow(1.0015, e.deltaY), e.clientX - canvas.getBoundingClientRect().left);
    } else if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      e.preventDefault();
      const d = (e.shiftKey ? e.deltaY : e.deltaX) / plotWidth() * (view.t1 - view.t0);
      setView(view.t0 + d, view.t1 + d);
    }
  }, { passive: false });
  container.addEventListener("scroll", () => draw());
  container.addEventListener("keydown", (e) => {
    if (e.key === "+" || e.key === "=" || e.key === "w") zoom(0.7);
    else if (e.key === "-" || e.key === "s") zoom(1 / 0.7);
    else if (e.key === "0") fit();
    else if (e.key === "a" || e.key === "ArrowLeft") setView(view.t0 - (view.t1 - view.t0) * 0.15, view.t1 - (view.t1 - view.t0) * 0.15);
    else if (e.key === "d" || e.key === "ArrowRight") setView(view.t0 + (view.t1 - view.t0) * 0.15, view.t1 + (view.t1 - view.t0) * 0.15);
  });
  document.getElementById("zoom-in").addEventListener("click", () => zoom(0.5));
  document.getElementById("zoom-out").addEventListener("click", () => zoom(2));
  document.getElementById("zoom-fit").addEventListener("click", fit);
  window.addEventListener("resize", resize);

  // ---- details panel ----
  const details = document.getElementById("details");
  // The panel sits beside the timeline, which gives it room: redraw at the new width.
  function setDetailsShown(shown) {
    if (details.hidden !== shown) return;
    details.hidden = !shown;
    resize();
  }
  document.getElementById("details-close").addEventListener("click", () => {
    selected = -1;
    setDetailsShown(false);
    draw();
  });

  function field(list, name, value) {
    list.append(el("dt", name));
    const dd = el("dd");
    if (value instanceof Node) dd.append(value); else dd.textContent = String(value);
    list.append(dd);
  }
  function linkTo(i, text) {
    const button = el("button", text);
    button.type = "button";
    button.addEventListener("click", () => revealBar(i, true));
    return button;
  }

  function showStack(frames, title) {
    document.getElementById("details-stack-title").textContent = title;
    const list = document.getElementById("details-stack");
    list.replaceChildren();
    if (!frames || !frames.length) list.append(el("li", "no stack recorded"));
    for (const f of frames || []) {
      const [fn, where] = frameText(f);
      const li = el("li");
      li.append(el("span", fn + (f.inlined ? " (inlined)" : ""), "fn"), " ", el("span", where, "src"));
      list.append(li);
    }
  }

  function selectBar(i) {
    selected = i;
    draw();
    const b = bars[i];
    document.getElementById("details-title").textContent = barTitle(b);
    const list = document.getElementById("details-fields");
    list.replaceChildren();
    if (b.finding) field(list, "finding", b.finding);
    field(list, "process", processName(b.p));
    field(list, "opened", "+" + duration(b.t0));
    field(list, "ended", b.open ? b.ended + " (+" + duration(b.t1) + ")" : b.ended + " at +" + duration(b.t1));
    field(list, "lifetime", duration(b.t1 - b.t0));
    if (b.ta !== undefined) {
      field(list, b.k === "session" ? "last transfer" : "last I/O", "+" + duration(b.ta));
      field(list, "idle", duration(b.t1 - b.ta) + (b.open ? " until its process ended" : " before it was closed"));
    } else {
      field(list, "idle", b.k === "session" ? "completed no transfer" : "no I/O recorded");
    }
    if (b.k === "session") {
      field(list, "api", b.api);
      field(list, "handle", b.handle);
      field(list, "completed transfers", b.transfers);
      field(list, "connections opened", b.connections);
      const held = [];
      bars.forEach((c, ci) => { if (c.session === i) held.push(ci); });
      if (held.length) {
        const span = el("span");
        held.slice(0, 20).forEach((ci) => span.append(linkTo(ci, barTitle(bars[ci])), " "));
        if (held.length > 20) span.append(" and " + (held.length - 20) + " more");
        field(list, "its sockets", span);
      }
    } else {
      field(list, "fd", b.fd);
      field(list, "kind", b.family + " " + b.protocol + (b.listening ? ", listening" : "") + (b.accepted ? ", accepted" : ""));
      if (b.peer) field(list, "peer", b.peer);
      if (b.local) field(list, "local", b.local);
      if (b.tcp) field(list, "TCP state", b.tcp);
      if (b.sent !== undefined) field(list, "bytes", b.sent + " sent, " + b.received + " received");
      if (b.tc !== undefined) field(list, b.accepted ? "accepted" : "connected", "+" + duration(b.tc));
      if (b.session !== undefined) field(list, "held by session", linkTo(b.session, barTitle(bars[b.session])));
    }
    showStack(data.stacks[b.stack], "Created at");
    setDetailsShown(true);
  }

  function showProcess(i) {
    selected = -1;
    draw();
    const p = processes[i];
    document.getElementById("details-title").textContent = processName(i);
    const list = document.getElementById("details-fields");
    list.replaceChildren();
    field(list, "executable", p.exe);
    field(list, "argv", JSON.stringify(p.argv));
    field(list, "parent", p.parent >= 0 ? p.origin + " of " + processName(p.parent) : "ppid " + p.ppid + " (not traced)");
    field(list, "started", "+" + duration(p.start));
    field(list, "lived", duration(p.end - p.start));
    field(list, "ended", endOf(p));
    field(list, "sessions and sockets", barsOf[i].length);
    showStack([], "");
    document.getElementById("details-stack").replaceChildren();
    setDetailsShown(true);
  }

  // Scrolls a bar into view (zooming to it when asked) and selects it.
  function revealBar(i, zoomTo) {
    if (!rowOfBar.has(i)) {
      // Filtered out: show everything again.
      shownKinds.clear();
      kindsPresent.forEach((k) => shownKinds.add(k));
      document.querySelectorAll("#kind-filter input").forEach((input) => { input.checked = true; });
      processFilter = null;
      document.getElementById("process-filter").value = "";
      peerFilter = "";
      document.getElementById("peer-filter").value = "";
      relayout();
    }
    const b = bars[i];
    if (zoomTo) {
      const length = Math.max(b.t1 - b.t0, 1000);
      setView(b.t0 - length * 0.25, b.t1 + length * 0.25);
    }
    const r = rowOfBar.get(i);
    const y = r * ROW;
    if (y < container.scrollTop || y + ROW > container.scrollTop + height - AXIS) {
      container.scrollTop = Math.max(y - (height - AXIS) / 2, 0);
    }
    container.scrollIntoView({ block: "nearest" });
    draw();
    selectBar(i);
    return barRect(i);
  }

  // Where a bar is on screen (client coordinates), or null when not shown.
  function barRect(i) {
    const r = rowOfBar.get(i);
    if (r === undefined) return null;
    const b = bars[i];
    const rect = canvas.getBoundingClientRect();
    const x0 = Math.max(xOf(b.t0), GUTTER), x1 = Math.min(Math.max(xOf(b.t1), x0 + 1), width);
    const y = AXIS + r * ROW - container.scrollTop;
    if (y < AXIS || y + ROW > height || x1 < GUTTER) return null;
    return { x: rect.left + x0, y: rect.top + y + 2, width: x1 - x0, height: ROW - 4 };
  }

  showHeader();
  showFindings();
  showProcesses();
  setUpFilters();
  relayout();
  fit();

  // For tests and benchmarks: what was laid out, and where a bar is.
  window.connleakReport = {
    renderedMs: null,  // set once the first frame is on screen
    drawn: () => drawn,
    rows: () => rows.length,
    barsLaidOut: () => rowOfBar.size,
    barRect,
    reveal: (i) => revealBar(i, true),
    scrollToBar: (i) => { revealBar(i, false); selected = -1; setDetailsShown(false); draw(); return barRect(i); },
  };
  requestAnimationFrame(() => requestAnimationFrame(() => { window.connleakReport.renderedMs = performance.now(); }));
})();
