"""Result tables in the README and ``docs/`` written from the runs' ``metrics.json``, never typed.

A markdown file marks where a table goes and what it shows; :func:`publish` fills every marked block from a
run folder and leaves the rest of the file byte for byte as it was::

    <!-- publish 08_joint_scorer_tinyvit table1 columns="erosion accuracy,jsn accuracy" digits=2 -->
    (the table, written here)
    <!-- /publish -->

``<!-- publish timings -->`` writes how long each notebook took instead (:func:`timings_block`),
``<!-- publish slow-cells min_seconds=60 -->`` which of their cells took that long or longer (:func:`slow_cells_block`), and
``<!-- publish seeds 07_mil_scheme2_joints table2 folders=cpu,cpu-seed1,cpu-seed2 measures=pcc,rmse rows=label -->``
a table over runs made with different seeds, in run folders beside the one named (:func:`seeds_block`).

The marker names the notebook, a key of its ``metrics`` (dotted for nested ones: ``total.label``) holding one
dict per row, and optionally ``columns`` (default: every column of the first row), ``rows`` (only rows whose
name starts with one of these, comma-separated) and ``digits`` (default 2). A column ``c`` whose rows also
hold ``c_low`` and ``c_high`` (or ``c low`` and ``c high``) is shown with that interval. A line under each table names the file and the
run it came from.

    .venv/bin/python -m ralib.publish runs/cpu --archive results/cpu README.md docs/*.md

``--archive`` first copies the run's records into ``results/`` (in git: the tables can be written again, and
checked, from there after ``runs/`` is gone); ``--keep-missing`` leaves a block whose run is not there as it was.

Example:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> runs = Path(tempfile.mkdtemp()); (runs / "02_x").mkdir()
    >>> metrics = {"finished": "2026-12-03T10:00:00+00:00", "seed": 0, "metrics": {"fits": {"a": {"pcc": 0.5, "pcc_low": 0.25, "pcc_high": 0.75}}}}
    >>> _ = (runs / "02_x" / "metrics.json").write_text(json.dumps(metrics))
    >>> print(table_block(runs, "02_x", "fits"))
    | row | pcc |
    |---|---|
    | a | 0.50 (0.25-0.75) |
    <BLANKLINE>
    <sub>From `02_x/metrics.json` (`fits`), run finished 2026-12-03T10:00:00+00:00, seed 0.</sub>
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
from pathlib import Path

MARKER = re.compile(r"(<!-- publish (?P<spec>[^\n]*?) -->\n)(?P<body>.*?)(<!-- /publish -->)", re.DOTALL)


def _cell(row: dict, column: str, digits: int) -> str:
    value = row.get(column)
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    low, high = (row.get(f"{column}_{end}", row.get(f"{column} {end}")) for end in ("low", "high"))
    if isinstance(low, (int, float)) and isinstance(high, (int, float)):
        between = " to " if min(low, high) < 0 else "-"  # "-0.54 to -0.04", not "-0.54--0.04"
        text += f" ({low:.{digits}f}{between}{high:.{digits}f})"
    return text


def _escape(text: str) -> str:
    """A pipe inside a cell (rows named ``"label | model"``) would split it: escaped as markdown wants."""
    return text.replace("|", "\\|")


def _metrics_table(runs: str | Path, notebook: str, key: str) -> tuple[dict, dict]:
    """The record of ``runs/<notebook>/metrics.json`` and its table ``metrics[key]`` (dotted for nested keys)."""
    path = Path(runs) / notebook / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics of {notebook} in {runs}; run it first (python -m ralib.run --only {notebook[:2]})")
    record = json.loads(path.read_text())
    table = record["metrics"]
    for part in key.split("."):
        if not isinstance(table, dict) or part not in table:
            raise KeyError(f"{path}: no {key!r} in its metrics (missing {part!r})")
        table = table[part]
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise ValueError(f"{path}: {key!r} is not a table (one dict per row)")
    return record, table


def _row_names(table: dict, rows: list[str] | None, where: str) -> list[str]:
    names = [n for n in table if not rows or any(n.startswith(r) for r in rows)]
    if not names:
        raise ValueError(f"{where}: no row starts with {rows}")
    return names


def table_block(runs: str | Path, notebook: str, key: str, columns: list[str] | None = None, rows: list[str] | None = None,
                digits: int = 2) -> str:  # fmt: skip
    """The markdown table of ``metrics[key]`` in ``runs/<notebook>/metrics.json`` (see the module docstring)."""
    record, table = _metrics_table(runs, notebook, key)
    names = _row_names(table, rows, f"{notebook} {key}")
    columns = columns or [c for c in table[names[0]] if not c.endswith(("_low", "_high", " low", " high"))]
    lines = ["| row | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += ["| " + " | ".join([_escape(name)] + [_escape(_cell(table[name], c, digits)) for c in columns]) + " |" for name in names]
    source = f"<sub>From `{notebook}/metrics.json` (`{key}`), run finished {record.get('finished', '?')}, seed {record.get('seed', '?')}.</sub>"
    return "\n".join(lines) + "\n\n" + source


def seeds_block(runs: str | Path, notebook: str, key: str, folders: list[str], measures: list[str],
                rows: list[str] | None = None, digits: int = 2) -> str:  # fmt: skip
    """The markdown table of ``metrics[key]`` of ``notebook`` over runs made with different seeds: each measure per
    seed, then its mean and range. ``folders`` name the run folders beside ``runs`` (``runs`` itself by its own
    name), e.g. ``cpu,cpu-seed1,cpu-seed2`` for ``runs/cpu``.

    Example:
        >>> import json, tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for folder, seed, pcc in (("cpu", 0, 0.5), ("cpu-seed1", 1, 0.25)):
        ...     (root / folder / "06_x").mkdir(parents=True)
        ...     record = {"seed": seed, "metrics": {"table2": {"a": {"pcc": pcc}}}}
        ...     _ = (root / folder / "06_x" / "metrics.json").write_text(json.dumps(record))
        >>> print(seeds_block(root / "cpu", "06_x", "table2", ["cpu", "cpu-seed1"], ["pcc"]))
        | row | pcc, seeds 0 / 1 | pcc, mean (range) |
        |---|---|---|
        | a | 0.50 / 0.25 | 0.38 (0.25-0.50) |
        <BLANKLINE>
        <sub>From `06_x/metrics.json` (`table2`) of the runs in cpu, cpu-seed1 (seeds 0, 1); two rows whose ranges overlap are not ordered by these runs.</sub>
    """
    from ralib.results import across_seeds  # pandas and the tasks: only for this kind of block

    loaded = [_metrics_table(Path(runs).parent / folder, notebook, key) for folder in folders]
    seeds = [record.get("seed") for record, _ in loaded]
    table = across_seeds([{"seed": record.get("seed"), "metrics": {key: rows_of}} for record, rows_of in loaded], key, tuple(measures))
    names = _row_names({name: {} for name in table.index}, rows, f"{notebook} {key}")
    seeds_text = " / ".join(map(str, seeds))
    header = [h for m in measures for h in (f"{m}, seeds {seeds_text}", f"{m}, mean (range)")]

    def number(value) -> str:
        return "-" if value != value else f"{value:.{digits}f}"  # NaN: the row is missing from that seed's run

    lines = ["| row | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    for name in names:
        row = table.loc[name]
        cells = []
        for m in measures:
            cells.append(" / ".join(number(row[f"{m} seed {s}"]) for s in seeds))
            low, high = row[f"{m} min"], row[f"{m} max"]
            between = " to " if low < 0 else "-"
            seen = sum(row[f"{m} seed {s}"] == row[f"{m} seed {s}"] for s in seeds)  # NaN != NaN: a seed without the row
            spread = f"({number(low)}{between}{number(high)})" if seen > 1 else "(one seed)"
            cells.append(f"{number(row[f'{m} mean'])} {spread}")
        lines.append("| " + " | ".join(_escape(c) for c in [name, *cells]) + " |")
    source = (f"<sub>From `{notebook}/metrics.json` (`{key}`) of the runs in {', '.join(folders)} (seeds {', '.join(map(str, seeds))});"
              " two rows whose ranges overlap are not ordered by these runs.</sub>")
    return "\n".join(lines) + "\n\n" + source


def minutes_seconds(seconds: float) -> str:
    """A duration as a reader says it.

    Example:
        >>> minutes_seconds(1789.2), minutes_seconds(41)
        ('29 min 49 s', '41 s')
    """
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def timings_block(runs: str | Path) -> str:
    """The markdown table of how long each notebook of the run folder ``runs`` took, from its ``run.json`` (written
    by ``python -m ralib.run``), with the commit of the code it ran and the sum.

    Example:
        >>> import json, tempfile
        >>> runs = Path(tempfile.mkdtemp()); (runs / "02_x").mkdir()
        >>> record = {"ok": True, "seconds": 75.0, "finished": "2026-12-03T10:00:00+00:00", "commit": "abc1234"}
        >>> _ = (runs / "02_x" / "run.json").write_text(json.dumps(record))
        >>> print(timings_block(runs))
        | notebook | time | finished (UTC) | code |
        |---|---|---|---|
        | `02_x` | 1 min 15 s | 2026-12-03 10:00 | abc1234 |
        <BLANKLINE>
        <sub>1 notebook, 1 min 15 s together; from `*/run.json` of the run folder.</sub>
    """
    records = {f.parent.name: json.loads(f.read_text()) for f in sorted(Path(runs).glob("*/run.json"))}
    if not records:
        raise FileNotFoundError(f"{runs}: no run.json of any notebook; run them first (python -m ralib.run)")
    lines = ["| notebook | time | finished (UTC) | code |", "|---|---|---|---|"]
    for name, r in records.items():
        time = minutes_seconds(r["seconds"]) + ("" if r.get("ok") else " (FAILED)")
        lines.append(f"| `{name}` | {time} | {r.get('finished', '?')[:16].replace('T', ' ')} | {r.get('commit') or '-'} |")
    total = sum(r["seconds"] for r in records.values())
    plural = "" if len(records) == 1 else "s"
    return "\n".join(lines) + f"\n\n<sub>{len(records)} notebook{plural}, {minutes_seconds(total)} together; from `*/run.json` of the run folder.</sub>"


def slow_cells_block(runs: str | Path, min_seconds: float = 60) -> str:
    """The markdown table of every notebook cell of the run folder ``runs`` that took at least ``min_seconds``, with
    the first line of its code: where a run's time went (papermill records each cell's duration in the executed
    notebook).

    Example:
        >>> import json, tempfile
        >>> runs = Path(tempfile.mkdtemp()); (runs / "02_x").mkdir()
        >>> cells = [{"cell_type": "markdown", "source": "## 1. Films\\n\\nText."},
        ...          {"cell_type": "code", "source": ["films = film_array(ds, 128)\\n", "x = 1"], "metadata": {"papermill": {"duration": 111.04}}},
        ...          {"cell_type": "code", "source": "y = 2", "metadata": {"papermill": {"duration": 0.5}}}]
        >>> _ = (runs / "02_x" / "02_x.ipynb").write_text(json.dumps({"cells": cells}))
        >>> print(slow_cells_block(runs))
        | notebook | section | cell | time | code |
        |---|---|---|---|---|
        | `02_x` | 1. Films | 1 | 1 min 51 s | `films = film_array(ds, 128)` |
        <BLANKLINE>
        <sub>Cells of at least 1 min 0 s: 1 min 51 s of the 1 min 52 s the cells of 1 notebook took; from the executed notebooks' papermill records.</sub>
    """
    lines = ["| notebook | section | cell | time | code |", "|---|---|---|---|---|"]
    shown = total = 0.0
    notebooks = sorted(Path(runs).glob("*/[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"{runs}: no executed notebook; run them first (python -m ralib.run)")
    for path in notebooks:
        section = ""
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            if cell["cell_type"] == "markdown":
                headings = [line.lstrip("# ").strip() for line in source.splitlines() if line.startswith("#")]
                section = headings[-1] if headings else section
            seconds = (cell.get("metadata", {}).get("papermill", {}).get("duration")) or 0.0
            total += seconds
            if seconds >= min_seconds:
                shown += seconds
                first = next((line.strip() for line in source.splitlines() if line.strip()), "")
                lines.append(f"| `{path.stem}` | {_escape(section)} | {i} | {minutes_seconds(seconds)} | {_escape(f'`{first[:80]}`')} |")
    plural = "" if len(notebooks) == 1 else "s"
    note = (f"Cells of at least {minutes_seconds(min_seconds)}: {minutes_seconds(shown)} of the {minutes_seconds(total)} the cells"
            f" of {len(notebooks)} notebook{plural} took; from the executed notebooks' papermill records.")
    return "\n".join(lines) + f"\n\n<sub>{note}</sub>"


def _block(runs: Path, spec: str) -> str:
    words = shlex.split(spec)
    if words == ["timings"]:
        return timings_block(runs)
    if words and words[0] == "slow-cells":
        options = dict(w.split("=", 1) for w in words[1:])
        return slow_cells_block(runs, float(options.get("min_seconds", 60)))
    seeds = words[:1] == ["seeds"]
    words = words[1:] if seeds else words
    if len(words) < 2:
        raise ValueError(f"publish marker {spec!r}: name a notebook and a key")
    options = dict(w.split("=", 1) for w in words[2:])
    allowed = {"folders", "measures", "rows", "digits"} if seeds else {"columns", "rows", "digits"}
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"publish marker {spec!r}: unknown option(s) {', '.join(sorted(unknown))}")
    listed = {k: [x.strip() for x in options[k].split(",")] if k in options else None for k in allowed - {"digits"}}
    if seeds:
        if not listed["folders"] or not listed["measures"]:
            raise ValueError(f"publish marker {spec!r}: a seeds block needs folders=... and measures=...")
        return seeds_block(runs, words[0], words[1], digits=int(options.get("digits", 2)), **listed)
    return table_block(runs, words[0], words[1], digits=int(options.get("digits", 2)), **listed)


def publish(markdown: str | Path, runs: str | Path, kept: list[str] | None = None) -> int:
    """Fill every ``<!-- publish ... -->`` block of the file ``markdown`` from the run folder ``runs``; the text
    outside the blocks is kept as it was. Returns the number of blocks written; the file is rewritten only
    when all of them could be.

    A block whose run is not there raises, unless a list ``kept`` is given: then that block is left as it was and
    its marker appended to ``kept`` (publishing one new run without losing the tables of runs no longer on disk).
    """
    path = Path(markdown)
    text = path.read_text()
    count = 0

    def fill(match: re.Match) -> str:
        nonlocal count
        try:
            block = _block(Path(runs), match.group("spec"))
        except FileNotFoundError:
            if kept is None:
                raise
            kept.append(match.group("spec"))
            return match.group(0)
        count += 1
        return match.group(1) + block + "\n" + match.group(4)

    new = MARKER.sub(fill, text)
    if new != text:
        path.write_text(new)
    return count


def archive(runs: str | Path, results: str | Path) -> list[Path]:
    """Copy what the tables are written from out of the run folder ``runs`` into ``results`` (kept in git, so that
    the README's numbers can be published again, and checked, after ``runs/`` is gone): each notebook's
    ``metrics.json`` and ``run.json``, and its executed notebook without outputs (its cells' durations kept).

    Example:
        >>> import json, tempfile
        >>> runs, results = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
        >>> (runs / "02_x").mkdir()
        >>> _ = (runs / "02_x" / "metrics.json").write_text("{}")
        >>> cells = [{"cell_type": "code", "source": "x", "outputs": [{"data": "image"}], "metadata": {"papermill": {"duration": 2.0}}}]
        >>> _ = (runs / "02_x" / "02_x.ipynb").write_text(json.dumps({"cells": cells}))
        >>> [p.relative_to(results).as_posix() for p in archive(runs, results)]
        ['02_x/02_x.ipynb', '02_x/metrics.json']
        >>> json.loads((results / "02_x" / "02_x.ipynb").read_text())["cells"][0]["outputs"]
        []
    """
    copied = []
    for folder in sorted(p for p in Path(runs).iterdir() if p.is_dir() and (p / "metrics.json").is_file()):
        dest = Path(results) / folder.name
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("metrics.json", "run.json"):
            if (folder / name).is_file():
                shutil.copyfile(folder / name, dest / name)
                copied.append(dest / name)
        for executed in folder.glob("[0-9][0-9]_*.ipynb"):
            notebook = json.loads(executed.read_text())
            for cell in notebook["cells"]:
                if "outputs" in cell:
                    cell["outputs"] = []
            (dest / executed.name).write_text(json.dumps(notebook, indent=1) + "\n")
            copied.append(dest / executed.name)
    return sorted(copied)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ralib.publish", description="Write the marked result tables from a run folder.")
    parser.add_argument("runs", type=Path, help="a run folder, e.g. runs/cpu")
    parser.add_argument("files", nargs="*", type=Path, help="markdown files with <!-- publish ... --> blocks")
    parser.add_argument("--archive", type=Path, metavar="RESULTS", help="first copy the run's records into RESULTS (e.g. results/cpu)")
    parser.add_argument("--keep-missing", action="store_true", help="leave a block whose run is not there as it was, and say so")
    args = parser.parse_args(argv)
    runs = args.runs
    if args.archive:
        print(f"{args.archive}: {len(archive(runs, args.archive))} file(s) copied from {runs}")
        runs = args.archive
    for file in args.files:
        kept: list[str] | None = [] if args.keep_missing else None
        print(f"{file}: {publish(file, runs, kept)} table(s) written from {runs}")
        for spec in kept or []:
            print(f"  kept as it was (its run is not in {runs.parent}): {spec}")


if __name__ == "__main__":
    main()
