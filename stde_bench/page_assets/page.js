// stde-bench report pages: draw the embedded figures, sort and filter the tables, and on
// the index compare two machines' ratios.  Vanilla JS, no server: the page opens from disk.
(function () {
  "use strict";
  const CONFIG = { displaylogo: false, responsive: true };

  // Figures are drawn as they come near the window (a page holds dozens);
  // window.drawAllFigures() draws the rest at once (printing, tests).
  const figures = JSON.parse(document.getElementById("figures").textContent);
  const pending = new Map();
  function draw(id) {
    const figure = pending.get(id), div = document.getElementById(id);
    pending.delete(id);
    return figure && div ? Plotly.newPlot(div, figure.data, figure.layout, CONFIG) : null;
  }
  const near = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) {
        near.unobserve(entry.target);
        draw(entry.target.id);
      }
    }
  }, { rootMargin: "800px 0px" });
  for (const [id, figure] of Object.entries(figures)) {
    const div = document.getElementById(id);
    if (!div) continue;
    pending.set(id, figure);
    near.observe(div);
  }
  window.drawAllFigures = () => Promise.all([...pending.keys()].map(draw));
  window.addEventListener("beforeprint", () => window.drawAllFigures());

  // Sorting: a click on a header sorts by that column (numbers by data-v), again: reversed.
  function key(td) {
    const v = td ? td.dataset.v : undefined;
    if (v !== undefined && v !== "" && !isNaN(Number(v))) return [0, Number(v), ""];
    return [v === undefined || v === "" ? 2 : 1, 0, td ? td.textContent : ""];
  }
  function compare(a, b) {
    if (a[0] !== b[0]) return a[0] - b[0];
    return a[0] === 0 ? a[1] - b[1] : a[2].localeCompare(b[2]);
  }
  document.addEventListener("click", (event) => {
    const th = event.target.closest("table.sortable th");
    if (!th) return;
    const table = th.closest("table"), body = table.tBodies[0];
    const k = Array.from(th.parentNode.children).indexOf(th);
    const dir = th.dataset.dir === "asc" ? "desc" : "asc";
    for (const other of th.parentNode.children) delete other.dataset.dir;
    th.dataset.dir = dir;
    const sign = dir === "asc" ? 1 : -1;
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = key(a.cells[k]), y = key(b.cells[k]);
      return x[0] === 2 || y[0] === 2 ? x[0] - y[0] : sign * compare(x, y);
    });
    body.append(...rows);
  });

  // Filtering: rows that contain every word typed (case-insensitive).
  function filter(table) {
    const box = document.querySelector(`input[data-filter="${table.id}"]`);
    const terms = box ? box.value.toLowerCase().split(/\s+/).filter(Boolean) : [];
    let shown = 0;
    for (const row of table.tBodies[0].rows) {
      const keep = terms.every((t) => row.textContent.toLowerCase().includes(t));
      row.hidden = !keep;
      shown += keep ? 1 : 0;
    }
    const count = document.getElementById(`${table.id}-count`);
    if (count) count.textContent = `${shown} of ${table.tBodies[0].rows.length} rows`;
  }
  document.addEventListener("input", (event) => {
    const box = event.target.closest("input[data-filter]");
    if (box) filter(document.getElementById(box.dataset.filter));
  });
  for (const box of document.querySelectorAll("input[data-filter]")) {
    filter(document.getElementById(box.dataset.filter));
  }

  // The index: two machines side by side, ratios only.
  const ratiosNode = document.getElementById("ratios");
  if (!ratiosNode) return;
  const ratios = JSON.parse(ratiosNode.textContent);
  const names = Object.keys(ratios);
  const pickA = document.getElementById("machine-a"), pickB = document.getElementById("machine-b");
  const pickQ = document.getElementById("quantity");
  if (names.length > 1) pickB.value = names[1];
  const quantities = [...new Set(names.flatMap((n) => ratios[n].map((r) => r.quantity)))];
  for (const q of quantities.sort()) pickQ.add(new Option(q, q));
  const first = quantities.find((q) => q.startsWith("speed")) || quantities[0];
  if (first) pickQ.value = first;
  const rowKey = (r) => [r.section, r.quantity, r.problem, r.row, r.samples, r.col].join("\u0001");
  const text = (v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(3));
  const dimLabel = (d) => {  // 1000 -> 1K, 1000000 -> 1M (the paper's column headings)
    const n = Number(d);
    if (!Number.isInteger(n) || n <= 0) return String(d);
    if (n % 1e6 === 0) return `${n / 1e6}M`;
    return n % 1e3 === 0 ? `${n / 1e3}K` : String(n);
  };
  const rowName = (r) => [r.section, r.problem, r.row, r.samples ? `|J|=${r.samples}` : ""]
    .filter(Boolean).join(" · ");
  const td = (v, sort) => {
    const cell = document.createElement("td");
    cell.textContent = v;
    cell.dataset.v = sort === undefined ? v : sort;
    return cell;
  };
  function update() {
    const a = pickA.value, b = pickB.value, q = pickQ.value;
    const joined = new Map();
    for (const [side, name] of [["a", a], ["b", b]]) {
      for (const r of ratios[name] || []) {
        const k = rowKey(r);
        if (!joined.has(k)) joined.set(k, { r: r });
        joined.get(k)[side] = r.ratio;
      }
    }
    const table = document.getElementById("compare-table");
    const head = ["table", "quantity", "problem", "method", "|J|", "d", `A: ${a}`, `B: ${b}`];
    table.tHead.rows[0].replaceChildren(...head.map((h) => {
      const th = document.createElement("th");
      th.textContent = h;
      return th;
    }));
    const rows = [];
    for (const { r, a: va, b: vb } of joined.values()) {
      const tr = document.createElement("tr");
      tr.append(td(r.section), td(r.quantity), td(r.problem || ""), td(r.row),
        td(r.samples || "–", r.samples), td(dimLabel(r.col), r.col), td(text(va), va ?? ""),
        td(text(vb), vb ?? ""));
      rows.push(tr);
    }
    table.tBodies[0].replaceChildren(...rows);
    filter(table);
    const traces = [];
    const byRow = new Map();
    for (const { r, a: va, b: vb } of joined.values()) {
      if (r.quantity !== q) continue;
      const k = rowName(r);
      if (!byRow.has(k)) byRow.set(k, []);
      byRow.get(k).push([r.col, va, vb]);
    }
    const numeric = [...byRow.values()].flat().every((p) => !isNaN(Number(p[0])));
    let i = 0;
    for (const [k, points] of byRow) {
      points.sort((x, y) => (numeric ? Number(x[0]) - Number(y[0]) : 0));
      const color = `hsl(${(i++ * 47) % 360}, 65%, 42%)`;
      for (const [side, dash, name] of [[1, "solid", a], [2, "dash", b]]) {
        const p = points.filter((x) => x[side] !== undefined && x[side] !== null);
        if (!p.length) continue;
        traces.push({
          type: "scatter", mode: "lines+markers", name: `${k} (${side === 1 ? "A" : "B"})`,
          legendgroup: k, x: p.map((x) => (numeric ? Number(x[0]) : x[0])),
          y: p.map((x) => x[side]), line: { color: color, dash: dash },
          hovertemplate: `${k}<br>${name}<br>d = %{x}<br>ratio %{y:.3g}<extra></extra>`,
        });
      }
    }
    const layout = {
      title: { text: `${q}: A (${a}) solid, B (${b}) dashed` }, template: "plotly_white",
      xaxis: { type: numeric ? "log" : "category", title: { text: "d (log)" } },
      yaxis: { type: "log", title: { text: "ratio (log)" } },
      height: Math.max(520, 19 * traces.length + 160),
      legend: { font: { size: 10 } },
    };
    Plotly.react("fig-compare", traces, layout, CONFIG);
  }
  for (const pick of [pickA, pickB, pickQ]) pick.addEventListener("change", update);
  update();
})();
