"""The report's web pages (``stde_bench/page.py``) in a real browser: Debian's chromium at
``/usr/bin/chromium`` driven by Playwright's Python package (never a downloaded browser
build; ``.ci/run`` installs chromium with apt where it is missing, and the browser tests skip
only where it is not there).

Two reports: one of a small results folder built here from typed cell records (the
floor, paper-faithful and restricted JAX rows, PyTorch, an out-of-memory cell, two seeds),
and one of the committed results.  Each machine's page loads without console errors; each
table figure has ours and the paper's traces where the table has them; a legend click
hides a method; a table's filter narrows its rows; the summary's verdict counts are the
Markdown's; the index compares machines by ratios only.  The page's embedded data is the
tidy frame's (Table 3).  Plots (matplotlib) are not drawn here: the page does not need them.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from stde_bench.config import TrainConfig
from stde_bench.page import VERDICTS
from stde_bench.paper import PROTOCOL
from stde_bench.records import CellRecord
from stde_bench.report import plots, render

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not at /usr/bin/chromium: `apt-get install chromium` "
    "(.ci/run does it); Playwright's own browser builds are not used",
)
AC, MACHINE, OTHER = "allen-cahn-two-body", "hand-built", "hand-built-fast"
STEPS = PROTOCOL[AC]["steps"]  # trained as long as the paper: the verdict judges it
CPU = "cpu-epyc-2core"
#: the reports tested: the hand-built one (quick), the committed results' (slow: a minute)
SLOW = pytest.mark.slow
REPORTS = ["hand_built", pytest.param("committed", marks=SLOW)]
MACHINE_PAGES = [("hand_built", MACHINE), pytest.param("committed", CPU, marks=SLOW)]
PAGES = [*MACHINE_PAGES, ("hand_built", None), pytest.param("committed", None, marks=SLOW)]


def record(method: str, dim: int, **kw) -> CellRecord:
    """A cell record as a sweep writes it (``kw``: measurements, record and config fields)."""
    fields = {k: kw.pop(k) for k in list(kw) if k in TrainConfig.__dataclass_fields__}
    config = TrainConfig(**{"steps": 200, "n_test": 2000, "samples": 16} | fields).asdict()
    base = dict(problem=AC, estimator=method, dim=dim, config=config, status="ok")
    base |= dict(code_version="aaaa1111", asv_machine=MACHINE, profile="hand", grid="Hand")
    base |= dict(machine={"date": "2026-01-01T00:00:00+00:00", "cpu": "CPU-X", "ram_gb": 8})
    base |= dict(stochastic=method != "primal-jax", memory_method="peak")
    return CellRecord(**base | kw)


def hand_built_records() -> list[CellRecord]:
    speed = dict(measure="speed")
    out = []
    for d, scale in ((100, 1.0), (1000, 0.3), (10_000, 0.05)):
        out.append(record("primal-jax", d, it_per_s=900 * scale, memory_mb=1 / scale, **speed))
        out.append(record("stde-jax", d, it_per_s=90 * scale, memory_mb=10 / scale, **speed))
        out.append(
            record("sdgd-parallel-jax", d, it_per_s=60 * scale, memory_mb=20 / scale, **speed)
        )
        out.append(
            record("stde-jax", d, restrict=True, it_per_s=95 * scale, memory_mb=2 / scale, **speed)
        )
        out.append(
            record("sdgd-backward-torch", d, it_per_s=9 * scale, memory_mb=40 / scale, **speed)
        )
    for seed, error in ((0, 4.0e-3), (1, 5.0e-3)):
        for d in (100, 1000):
            out.append(
                record("stde-jax", d, seed=seed, steps=STEPS, measure="error", error_min=error)
            )
    oom = dict(status="oom", reason="RESOURCE_EXHAUSTED: out of memory (hand-built)")
    out.append(record("sdgd-parallel-jax", 100_000, measure="speed", **oom))
    return out


@contextlib.contextmanager
def no_plots():
    """The report without its matplotlib figures (seconds instead of minutes here)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("table_plots", "quality_plot", "overhead_plot", "history_plots"):
            mp.setattr(plots, name, lambda *args, **kw: [], raising=False)
        yield


@pytest.fixture(scope="module")
def hand_built(tmp_path_factory) -> Path:
    """``reports/`` of the hand-built results of two machines (the second 3x as fast)."""
    tmp = tmp_path_factory.mktemp("hand")
    cells = tmp / "results" / "cells"
    cells.mkdir(parents=True)
    for machine, faster in ((MACHINE, 1.0), (OTHER, 3.0)):  # two machines: the index
        records = [r.replace(asv_machine=machine) for r in hand_built_records()]
        records = [r.replace(it_per_s=r.it_per_s * faster) if r.it_per_s else r for r in records]
        lines = [json.dumps(r.to_json()) for r in records]
        (cells / f"{machine}-hand.jsonl").write_text("\n".join(lines) + "\n")
    with no_plots():
        render(tmp / "results", out=tmp / "reports")
    return tmp / "reports"


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> Path:
    """``reports/`` of the committed results (every machine in results/)."""
    out = tmp_path_factory.mktemp("committed") / "reports"
    with no_plots():
        start = time.perf_counter()
        render(ROOT / "results", out=out)
        print(f"committed results rendered (without plots) in {time.perf_counter() - start:.1f} s")
    return out


def embedded(html: str, element: str):
    """The JSON of ``<script type="application/json" id="<element>">`` in a page."""
    match = re.search(rf'<script type="application/json" id="{element}">(.*?)</script>', html, re.S)
    assert match, f"no embedded data {element!r}"
    return json.loads(match[1].replace("<\\/", "</"))


# --------------------------------------------------------------------------- no browser
@pytest.mark.parametrize("which", REPORTS)
def test_pages_are_written_self_contained_and_small(which, request):
    reports = request.getfixturevalue(which)
    pages = sorted(reports.glob("*/index.html"))
    assert pages and (reports / "index.html").is_file()
    for page in [*pages, reports / "index.html"]:
        html = page.read_text(encoding="utf-8")
        assert page.stat().st_size <= 15 * 2**20, f"{page}: {page.stat().st_size} bytes"
        assert not re.search(r"<script[^>]+src=|<link[^>]+href=", html), page  # inlined
        assert "Plotly" in html  # plotly.js inlined from the pinned package


@pytest.mark.parametrize(("which", "machine"), MACHINE_PAGES)
def test_embedded_table_3_is_the_tidy_frame(which, machine, request):
    """Every Table 3 value the page holds is the tidy frame's (data.csv: the shown rows'
    mean over seeds; the paper's as in its table file) and the Markdown's CSV's."""
    folder = request.getfixturevalue(which) / machine
    data = pd.DataFrame(
        embedded((folder / "index.html").read_text(encoding="utf-8"), "data-table3")
    )
    tidy = pd.read_csv(folder / "data.csv")
    ours = data[
        (data.ours_status == "ok") & data.metric.isin(["it_per_s", "memory_mb", "error_min"])
    ]
    assert len(ours) >= 6
    shown = tidy[tidy.shown & (tidy.source == "ours") & (tidy.problem == AC)]
    for r in ours.itertuples():
        restricted, compiled = "(restricted)" in r.row, "(torch.compile)" in r.row
        rows = shown[
            (shown.method == r.method)
            & (shown.samples == r.samples)
            & (shown.dim == r.dim)
            & (shown.metric == r.metric)
            & (shown.restricted == restricted)
            & (shown.torch_compile == compiled)
            & (shown.block == 1)
        ]
        assert len(rows) == r.seeds, (r.row, r.dim, r.metric)
        assert r.ours == pytest.approx(rows.value.mean(), rel=1e-12), (r.row, r.dim, r.metric)
        assert set(r.versions.split(", ")) == set(rows.code_version)
    paper = tidy[(tidy.source == "paper") & (tidy.table == 3) & (tidy.status == "ok")]
    printed = data[(data.paper_status == "ok") & ~data.metric.str.contains("|", regex=False)]
    copies = printed.row.str.endswith(" (restricted)")  # ours, beside the unrestricted row's
    for r in printed[copies].itertuples():
        same = (printed.method == r.method) & (printed.metric == r.metric) & (printed.col == r.col)
        assert r.metric.startswith("error") and r.paper in set(printed.paper[same & ~copies])
    printed = printed[~copies]
    assert len(printed) == len(paper)
    assert sorted(printed.paper) == pytest.approx(sorted(paper.value), rel=1e-12)
    csv = pd.read_csv(folder / "tables" / "table3.csv")
    key = ["problem", "row", "samples", "metric", "col"]
    as_text = {"col": str}
    both = data.astype(as_text).merge(
        csv.astype(as_text), on=key, suffixes=("", "_csv"), how="left"
    )
    assert both.ours.fillna(-1).to_numpy() == pytest.approx(both.ours_csv.fillna(-1).to_numpy())
    assert both.paper.fillna(-1).to_numpy() == pytest.approx(both.paper_csv.fillna(-1).to_numpy())


# --------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(needs_chromium.kwargs["reason"])
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Opened:
    """A page opened from the file system, every figure drawn, its console errors kept."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda err: self.errors.append(str(err)))
        self.fetched: list[str] = []  # anything not from the file itself: not offline
        self.page.on("request", lambda r: r.url.startswith("file:") or self.fetched.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        self.page.evaluate("window.drawAllFigures ? window.drawAllFigures() : null")

    def figure(self, fig_id: str) -> list[dict]:
        """The traces of a figure as plotly holds them (``visible`` included)."""
        script = """id => document.getElementById(id).data.map(t => ({
            meta: t.meta, legendgroup: t.legendgroup, visible: t.visible === undefined
            ? true : t.visible}))"""
        return self.page.evaluate(script, fig_id)


@pytest.fixture(scope="module")
def pages(browser, request):
    """``pages(which, machine)``: that report's page (None: its index), opened once."""
    opened = {}

    def get(which: str, machine: str | None) -> Opened:
        if (which, machine) not in opened:
            reports = request.getfixturevalue(which)
            path = reports / machine / "index.html" if machine else reports / "index.html"
            opened[which, machine] = Opened(browser, path)
        return opened[which, machine]

    yield get
    for o in opened.values():
        o.page.close()


@needs_chromium
@pytest.mark.parametrize(("which", "machine"), PAGES)
def test_page_loads_without_console_errors(which, machine, pages, tmp_path):
    opened = pages(which, machine)
    assert opened.errors == []
    assert opened.fetched == []
    drawn = opened.page.evaluate("[...document.querySelectorAll('.fig')].every(d => d.data)")
    assert drawn, "a figure was not drawn"
    opened.page.screenshot(path=tmp_path / "page.png")
    assert (tmp_path / "page.png").stat().st_size > 10_000


@needs_chromium
@pytest.mark.parametrize(("which", "machine"), MACHINE_PAGES)
def test_each_table_figure_has_ours_and_the_papers(which, machine, pages, request):
    """A paper table's figure of a metric has an ours trace where the table has a value of
    ours, and a paper trace where the paper prints one; Table 3 has both for each metric."""
    opened = pages(which, machine)
    html = (request.getfixturevalue(which) / machine / "index.html").read_text(encoding="utf-8")
    ids = opened.page.evaluate(
        "[...document.querySelectorAll('.fig[id^=fig-table]')].map(d => d.id)"
    )
    assert {"fig-table3-it_per_s", "fig-table3-memory_mb", "fig-table3-error_min"} <= set(ids)
    for fig_id in ids:
        table, metric = fig_id.removeprefix("fig-").split("-", 1)
        data = pd.DataFrame(embedded(html, f"data-{table}"))
        data = data[data.metric == metric]
        sides = {t["meta"] for t in opened.figure(fig_id)}
        for side in ("ours", "paper"):
            has = ((data[f"{side}_status"] == "ok") & (data[side] > 0)).any()
            assert (side in sides) == has, (fig_id, side)
            assert side in sides or table != "table3", (fig_id, side)


@needs_chromium
@pytest.mark.parametrize(("which", "machine"), MACHINE_PAGES)
def test_a_legend_click_hides_a_method(which, machine, pages, tmp_path):
    opened, fig_id = pages(which, machine), "fig-table3-it_per_s"
    before = opened.figure(fig_id)
    assert all(t["visible"] is True for t in before)
    opened.page.locator(f"#{fig_id}").scroll_into_view_if_needed()
    opened.page.locator(f"#{fig_id} .legend .traces .legendtoggle").first.click()
    hidden = "id => document.getElementById(id).data.some(t => t.visible === 'legendonly')"
    opened.page.wait_for_function(hidden, arg=fig_id, timeout=5000)
    after = opened.figure(fig_id)
    groups = {t["legendgroup"] for t in after if t["visible"] == "legendonly"}
    assert len(groups) == 1, groups  # one method: its ours, its paper's, its OOM marks
    for t in after:
        assert (t["visible"] == "legendonly") == (t["legendgroup"] in groups)
    opened.page.screenshot(path=tmp_path / "legend.png")
    opened.page.locator(f"#{fig_id} .legend .traces .legendtoggle").first.click()  # back
    shown = "id => document.getElementById(id).data.every(t => t.visible !== 'legendonly')"
    opened.page.wait_for_function(shown, arg=fig_id, timeout=5000)


@needs_chromium
@pytest.mark.parametrize(("which", "machine"), MACHINE_PAGES)
def test_the_filter_narrows_a_tables_rows(which, machine, pages):
    opened, table = pages(which, machine), "#cells-table3"
    rows = opened.page.locator(f"{table} tbody tr")
    total = rows.count()
    opened.page.fill("input[data-filter=cells-table3]", "stde-jax speed")
    visible = opened.page.locator(f"{table} tbody tr:not([hidden])")
    kept = visible.count()
    assert 0 < kept < total
    for text in visible.all_inner_texts():
        assert "stde-jax" in text and "speed" in text
    count = opened.page.inner_text("#cells-table3-count")
    assert count == f"{kept} of {total} rows"
    opened.page.fill("input[data-filter=cells-table3]", "")
    assert opened.page.locator(f"{table} tbody tr:not([hidden])").count() == total


@needs_chromium
@pytest.mark.parametrize(("which", "machine"), MACHINE_PAGES)
def test_sorting_orders_a_column_by_its_numbers(which, machine, pages):
    opened = pages(which, machine)
    header = opened.page.locator("#cells-table3 thead th", has_text="ours ÷ paper")
    column = opened.page.evaluate(
        "[...document.querySelectorAll('#cells-table3 thead th')].map(th => th.textContent)"
    ).index("ours ÷ paper")
    script = f"""[...document.querySelectorAll('#cells-table3 tbody tr')]
        .map(r => r.cells[{column}].dataset.v).filter(v => v !== '').map(Number)"""
    for _ in range(2):  # ascending, then descending
        header.click()
        values = opened.page.evaluate(script)
        assert len(values) > 1
        order = opened.page.get_attribute("#cells-table3 thead th[data-dir]", "data-dir")
        assert values == sorted(values, reverse=order == "desc")


@needs_chromium
@pytest.mark.parametrize(("which", "machine"), MACHINE_PAGES)
def test_the_summarys_verdict_counts_are_the_markdowns(which, machine, pages, request):
    """README.md's summary table: "| [Table 3: ...](...) | A of N error cells agree ... (B
    of N agree within 3× or are better; W worse[; K <kind>]...)"; the page's summary: a count
    per verdict (agrees, better, worse, and the kinds that are neither)."""
    md = (request.getfixturevalue(which) / machine / "README.md").read_text(encoding="utf-8")
    block = md.split("## Summary", 1)[1].split("\n## ", 1)[0]
    told = {}
    pattern = r"\| \[Table (\d+):.*?\| (?:by [^:|]*: )?(\d+) of (\d+) error cells agree"
    pattern += r".*?\((\d+) of \d+ agree within 3× or are better; (\d+) worse((?:; \d+ [^;)]+)*)"
    for number, agree, n, agree_or_better, worse, more in re.findall(pattern, block):
        others = {kind: int(k) for k, kind in re.findall(r"; (\d+) ([^;]+)", more)}
        told[f"table{number}"] = (int(agree), int(agree_or_better), int(worse), int(n), others)
    assert told, "the Markdown names no verdict"
    shown = {}
    for key, (*_, others) in told.items():
        row = opened_row(pages(which, machine), key)
        judged = row["agrees"] + row["better"] + row["worse"]
        shown[key] = (
            row["agrees"],
            row["agrees"] + row["better"],
            row["worse"],
            judged + sum(row.get(VERDICTS[k], 0) for k in others),
            {k: row.get(VERDICTS[k], 0) for k in others},
        )
    assert shown == told
    if which == "hand_built":
        assert told["table3"][3] >= 1  # a judged cell: the counts are not vacuous


@pytest.mark.parametrize(("which", "machine"), MACHINE_PAGES)
def test_the_summarys_headline_ratios_are_the_markdowns(which, machine, request):
    """The page's headline ratios are the Markdown summary's bullets "- [view](link): what
    values; what values", row for row."""
    folder = request.getfixturevalue(which) / machine
    md = (folder / "README.md").read_text(encoding="utf-8").split("## Summary", 1)[1]
    md = md.split("\n## ", 1)[0]
    told = {
        (view, ratio)
        for view, ratios in re.findall(r"^- \[(.+?)\]\([^)]*\): (.+)$", md, re.M)
        for ratio in ratios.split("; ")
    }
    html = (folder / "index.html").read_text(encoding="utf-8")
    table = re.search(r'<table class="sortable" id="headlines">(.*?)</table>', html, re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", table[1] if table else "", re.S)
    cells = [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in rows]
    shown = {(view, f"{ratio} {values}") for view, ratio, values in filter(None, cells)}
    assert shown == told
    if which == "committed":
        assert told  # the CPU's restriction and framework views have headlines


def opened_row(opened: Opened, key: str) -> dict[str, int]:
    script = """key => Object.fromEntries(
        [...document.querySelectorAll(`#verdicts tr[data-table="${key}"] td[data-k]`)]
        .map(td => [td.dataset.k, +td.dataset.v]))"""
    return opened.page.evaluate(script, key)


@needs_chromium
@pytest.mark.parametrize("which", REPORTS)
def test_the_index_compares_two_machines_by_ratios_only(which, pages, request):
    opened, reports = pages(which, None), request.getfixturevalue(which)
    assert opened.errors == []
    machines = opened.page.evaluate(
        "[...document.querySelectorAll('#machine-a option')].map(o => o.value)"
    )
    assert set(machines) == {p.parent.name for p in reports.glob("*/index.html")}
    assert len(machines) >= 2
    quantities = opened.page.evaluate(
        "[...document.querySelectorAll('#quantity option')].map(o => o.value)"
    )
    assert quantities and all(re.search("÷|speed-up|reduction", q) for q in quantities)
    assert opened.page.locator("#compare-table tbody tr").count() > 0
    assert opened.page.evaluate("document.getElementById('fig-compare').data.length") > 0
    for link in opened.page.evaluate(
        "[...document.querySelectorAll('li a')].map(a => a.getAttribute('href'))"
    ):
        assert (reports / link).is_file(), link
