"""README.md stays a first screen that is true: short, every link resolves, and no result
figure typed in by hand (STYLE habits 8, 11 and 15).

- README.md has at most ``MAX_LINES`` lines, and its first code block holds the two
  quick-start commands, ``make bench`` and ``make test``.
- Every relative Markdown link in README.md and ``docs/*.md`` names an existing file of
  the repository; a link ``file.md#anchor`` into a committed Markdown file names a heading
  of that file (GitHub's slug of it) or an explicit ``<a id=...>``.  Links into
  ``reports/SUMMARY.md`` are checked for the file only: ``stde-bench report`` writes it,
  and its anchors (one per machine, ``#profiles``) are the report's to keep.
- Every ``docs/<name>.md[#anchor]`` that a source, config or Markdown file of the
  repository mentions resolves the same way (code comments point into
  ``docs/findings.md`` for the evidence behind a rule).
- README.md has no hand-typed result: outside fenced code blocks (real output of real
  commands, shown verbatim) no token looks like a measured figure.  ``RESULT`` matches a
  number followed by a unit of what the suite measures (``×``, ``x``, ``it/s``, ``MB``,
  ``MiB``, ``GB``, ``s``, ``ms``, ``s/step``, ``min``, ``h``, ``%`` ...) or a decimal in
  scientific notation (``5.48e-03``).  Settings carry no such unit (``d = 10⁴``,
  ``|J| = 16``, ``10,000 steps``, ``N_r = 100``, Adam ``1e-3``) and pass.  A figure is
  allowed only where it appears verbatim in ``reports/SUMMARY.md``, which the report
  generates from the records; without that file none is.  Plain numbers without a unit
  are not caught: the regex is kept simple on purpose, and a reviewer reads the rest.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SUMMARY = ROOT / "reports" / "SUMMARY.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_LINES = 200

#: a measured figure: a number with a unit of speed, memory, time, ratio or share, or a
#: decimal in scientific notation (see the module docstring)
RESULT = re.compile(
    r"(?<![\w.])\d+(?:[.,]\d+)*\s*"
    r"(?:×|x\b|it/s|s/step|[KMG]i?B\b|ms\b|s\b|min\b|minutes?\b|h\b|hours?\b|%)"
    r"|(?<![\w.])\d\.\d+\s*[eE][-+]?\d+"
)
#: an inline Markdown link or image: [text](target "title")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: a mention of a page of docs/ in any file, with its anchor if any
DOCS_MENTION = re.compile(r"(?<![\w/.-])(docs/[\w.-]+\.md)(?:#([\w-]+))?")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
#: where mentions of docs/ are looked for, and what is skipped
SCANNED = {".py", ".md", ".txt", ".toml", ".cfg", ".ini", ".json", ".sh", ".yml", ".yaml"}
SKIPPED_DIRS = {".git", ".venv", ".asv", "results", "reports", "__pycache__", "build", "dist"}


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (``` or ~~~)."""
    lines, fence = [], None
    for line in text.splitlines():
        marker = line.lstrip()[:3]
        if fence is None and marker in ("```", "~~~"):
            fence = marker
        elif fence is not None and marker == fence:
            fence = None
        elif fence is None:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, lower case, punctuation dropped
    (letters, digits, ``_``, ``-`` and spaces stay), spaces to ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a Markdown file: heading slugs (a repeated one gets ``-1``, ``-2``
    as on GitHub) and explicit ``<a id="...">`` / ``<a name="...">``."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(path.read_text(encoding="utf-8")):
        found.update(EXPLICIT_ANCHOR.findall(line))
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def check_target(source: Path, path: Path, anchor: str | None) -> str | None:
    """What is wrong with a link from ``source`` to ``path#anchor``, or None."""
    where = source.relative_to(ROOT)
    try:
        shown = path.relative_to(ROOT)
    except ValueError:
        return f"{where}: {path} lies outside the repository"
    if not path.exists():
        hint = " (run `stde-bench report`, which writes it)" if path == SUMMARY else ""
        return f"{where}: {shown} does not exist{hint}"
    if anchor and path.suffix == ".md" and path != SUMMARY and anchor not in anchors(path):
        return f"{where}: {shown} has no heading with anchor #{anchor}"
    return None


def test_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, (
        f"README.md has {n} lines, more than {MAX_LINES}: move measurements and "
        "investigations to docs/findings.md and link them"
    )


def test_readme_opens_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```[^\n]*\n(.*?)```", text, re.S)
    assert block, "README.md has no code block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert "make bench" in commands and "make test" in commands, (
        "README.md's first code block must hold `make bench` and `make test`"
    )


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(page: Path):
    wrong = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        line = re.sub(r"`[^`]*`", "", line)  # inline code is not a link
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ...
                continue
            path_part, _, anchor = target.partition("#")
            path = (page.parent / path_part).resolve() if path_part else page
            problem = check_target(page, path, anchor or None)
            if problem:
                wrong.append(problem)
    assert not wrong, "broken links:\n  " + "\n  ".join(sorted(set(wrong)))


def scanned_files():
    """The repository's source, config and Markdown files, outside ``SKIPPED_DIRS``."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder, name)
            if path.suffix in SCANNED or name == "Makefile":
                yield path


def test_mentions_of_docs_resolve():
    wrong = []
    for path in scanned_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for name, anchor in set(DOCS_MENTION.findall(text)):
            problem = check_target(path, ROOT / name, anchor or None)
            if problem:
                wrong.append(problem)
    assert not wrong, "mentions of docs/ that do not resolve:\n  " + "\n  ".join(sorted(wrong))


def test_readme_types_no_result():
    allowed = SUMMARY.read_text(encoding="utf-8") if SUMMARY.exists() else ""
    typed = []
    for line in prose_lines(README.read_text(encoding="utf-8")):
        for match in RESULT.finditer(line):
            if match.group(0) not in allowed:
                typed.append(f"{match.group(0)!r} in: {line.strip()}")
    assert not typed, (
        "README.md types results by hand; link the generated report section instead "
        "(or let `stde-bench report` write the figure into reports/SUMMARY.md):\n  "
        + "\n  ".join(typed)
    )


@pytest.mark.parametrize(
    ("text", "caught"),
    [
        ("restricted STDE runs 3.08× faster", True),
        ("0.313 it/s", True),
        ("2335 MB of memory", True),
        ("took 14.6 min", True),
        ("minimum error 5.48e-03", True),
        ("drifts by 10–20%", True),
        ("d = 10⁴, |J| = 16, 10,000 steps, N_r = 100, Adam 1e-3, two seeds", False),
        ("Tables 3–9 and 12, a 2-core CPU, 3-jets, depth 4", False),
    ],
)
def test_the_result_pattern(text, caught):
    assert bool(RESULT.search(text)) is caught


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        (
            "Table 3: Two-body Allen-Cahn (also main-text Tables 1 and 2)",
            "table-3-two-body-allen-cahn-also-main-text-tables-1-and-2",
        ),
        (
            "7 Where this suite departs from the paper (and why)",
            "7-where-this-suite-departs-from-the-paper-and-why",
        ),
        ("Estimator variance vs |J|", "estimator-variance-vs-j"),
        ("`stde-bench` [runs](x.md) **fast**", "stde-bench-runs-fast"),
    ],
)
def test_slug_is_githubs(heading, anchor):
    assert slug(heading) == anchor


def test_anchors_skip_code_and_count_repeats(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        '# Title\n```bash\n# not a heading\n```\n## Notes\n## Notes\n<a id="x-y"></a>\n'
    )
    assert anchors(page) == {"title", "notes", "notes-1", "x-y"}
