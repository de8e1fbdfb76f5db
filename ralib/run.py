"""Run the numbered notebooks headless with papermill and gather their metrics.

Command line::

    python -m ralib.run                          # every notebook, cpu profile, into runs/cpu/
    python -m ralib.run --profile smoke --only 00 02
    python -m ralib.run -p SEED=1 -p DATASET=ra2dream -p DATA_DIR=/data/ra2

Each notebook ``NN_slug.ipynb`` is executed into ``runs/<profile>/NN_slug/NN_slug.ipynb``; the
notebook itself writes ``metrics.json`` and ``figures/`` beside it (see :mod:`ralib.tracking`).
``runs/<profile>/summary.md`` gathers every notebook's status, time and metrics. The command exits
non-zero when a notebook fails and names it and the failing cell.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ralib.config import PROFILE_NAMES, get_profile, notebooks_dir, project_root, runs_dir


@dataclass
class NotebookResult:
    """What happened to one notebook."""

    notebook: str
    ok: bool
    seconds: float
    output: Path
    error: str = ""

    @property
    def metrics_path(self) -> Path:
        return self.output.parent / "metrics.json"


def discover(folder: Path | None = None, only: list[str] | None = None) -> list[Path]:
    """Numbered notebooks ``NN_*.ipynb`` of ``folder``, sorted; ``only`` keeps names starting so.

    Example:
        >>> [p.name for p in discover(only=["00"])][:1]
        ['00_svdh_primer.ipynb']
    """
    folder = folder or notebooks_dir()
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = [p for p in found if any(p.stem == o or p.stem.startswith(f"{o}_") for o in only)]
        missing = [o for o in only if not any(p.stem == o or p.stem.startswith(f"{o}_") for p in found)]
        if missing:
            raise SystemExit(f"no notebook matches {', '.join(missing)} in {folder}")
        found = wanted
    return found


def parse_parameters(pairs: list[str]) -> dict:
    """``["SEED=1", "DATA_DIR=/x", "FLAG=True"]`` -> ``{"SEED": 1, "DATA_DIR": "/x", "FLAG": True}``.

    Values are read as Python literals where they are one, else kept as strings.

    Example:
        >>> parse_parameters(["SEED=1", "NAME=resnet34", "SIZES=[1, 2]"])
        {'SEED': 1, 'NAME': 'resnet34', 'SIZES': [1, 2]}
    """
    params = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"parameter {pair!r} is not KEY=VALUE")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        params[key.strip()] = value
    return params


def run_notebook(
    path: Path,
    profile: str = "cpu",
    parameters: dict | None = None,
    out_root: Path | None = None,
    progress: bool = False,
    cell_timeout: int | None = 3600,
) -> NotebookResult:
    """Execute one notebook with papermill, injecting ``PROFILE``, ``OUT_DIR`` (and ``SHOW_WIDGETS=False``
    where the notebook has that parameter).

    The kernel runs in the notebook's folder, as in JupyterLab. A failure, or a cell running longer
    than ``cell_timeout`` seconds, is caught and described (notebook, cell, exception) in the
    returned result rather than raised.
    """
    import papermill as pm

    get_profile(profile)
    out_dir = (out_root or runs_dir(profile)) / path.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").unlink(missing_ok=True)  # never report a stale result
    output = out_dir / path.name
    # headless: notebooks show static figures instead of live widgets, which can stall nbclient
    params = {"PROFILE": profile, "OUT_DIR": str(out_dir)}
    if "SHOW_WIDGETS" in path.read_text():
        params["SHOW_WIDGETS"] = False
    params |= parameters or {}
    start = time.time()
    try:
        pm.execute_notebook(
            str(path),
            str(output),
            parameters=params,
            cwd=str(path.parent),
            progress_bar=progress,
            request_save_on_cell_execute=True,
            execution_timeout=cell_timeout,
        )
    except pm.PapermillExecutionError as exc:
        message = (str(exc.evalue).strip().splitlines() or [""])[0]
        last_line = (str(exc.source).strip().splitlines() or [""])[-1]
        error = (
            f"cell {exc.cell_index} of the executed notebook (`{last_line[:80]}`) "
            f"raised {exc.ename}: {message}"
        )
        return NotebookResult(path.stem, False, time.time() - start, output, error)
    except Exception as exc:  # kernel died, bad parameters, unreadable notebook
        return NotebookResult(path.stem, False, time.time() - start, output, f"{type(exc).__name__}: {exc}")
    seconds = time.time() - start
    if not (out_dir / "metrics.json").exists():
        return NotebookResult(path.stem, False, seconds, output, "finished without writing metrics.json")
    return NotebookResult(path.stem, True, seconds, output)


def write_summary(results: list[NotebookResult], profile: str, path: Path) -> Path:
    """Write ``summary.md``: one row per notebook, then each notebook's metrics."""
    lines = [
        f"# Summary of the `{profile}` run",
        "",
        "| notebook | status | minutes | figures |",
        "|---|---|---|---|",
    ]
    sections = []
    for r in results:
        record = json.loads(r.metrics_path.read_text()) if r.metrics_path.exists() else {}
        status = "ok" if r.ok else f"FAILED: {r.error}"
        lines.append(f"| {r.notebook} | {status} | {r.seconds / 60:.1f} | {len(record.get('figures', []))} |")
        if record.get("metrics"):
            sections += ["", f"## {r.notebook}", "", "| metric | value |", "|---|---|"]
            sections += [f"| {k} | {_fmt(v)} |" for k, v in _flatten(record["metrics"]).items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines + sections) + "\n")
    return path


def publish_figures(profile: str = "cpu", root: Path | None = None) -> list[Path]:
    """Copy the figures that README.md shows from ``runs/<profile>/`` into ``figures/``.

    README links figures as ``figures/<notebook>__<name>.png``; each is copied from
    ``runs/<profile>/<notebook>/figures/<name>.png``. A linked figure the run did not make is an error.
    """
    root = root or project_root()
    linked = sorted(set(re.findall(r"figures/([0-9]{2}_[A-Za-z0-9_]+?)__([A-Za-z0-9_.-]+?\.png)", (root / "README.md").read_text())))
    missing = [f"{nb}/figures/{name}" for nb, name in linked if not (runs_dir(profile) / nb / "figures" / name).exists()]
    if missing:
        raise FileNotFoundError(f"README.md shows figures the {profile} run did not make: {', '.join(missing)}")
    (root / "figures").mkdir(exist_ok=True)
    copied = []
    for nb, name in linked:
        dest = root / "figures" / f"{nb}__{name}"
        shutil.copyfile(runs_dir(profile) / nb / "figures" / name, dest)
        copied.append(dest)
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ralib.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", choices=PROFILE_NAMES)
    parser.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers or stems to run")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--notebooks", type=Path, default=None, help="folder of notebooks (default: notebooks/)")
    parser.add_argument("--cell-timeout", type=int, default=3600, help="seconds before a cell counts as hung")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failing notebook")
    parser.add_argument("--publish-figures", action="store_true", help="copy the run's figures to figures/")
    args = parser.parse_args(argv)

    notebooks = discover(args.notebooks, only=args.only)
    parameters = parse_parameters(args.parameter)
    results = []
    for i, nb in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {nb.stem} ({args.profile}) ...", flush=True)
        result = run_notebook(nb, args.profile, parameters, progress=sys.stderr.isatty(), cell_timeout=args.cell_timeout)
        results.append(result)
        print(f"[{i}/{len(notebooks)}] {nb.stem}: {'ok' if result.ok else 'FAILED'} in {result.seconds:.0f} s")
        if not result.ok:
            print(f"    {result.error}\n    executed notebook: {result.output}", file=sys.stderr)
            if args.fail_fast:
                break

    summary = write_summary(results, args.profile, runs_dir(args.profile) / "summary.md")
    print(f"summary: {summary}")
    if args.publish_figures:
        print(f"copied {len(publish_figures(args.profile))} figures to figures/")
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"FAILED {r.notebook}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _flatten(metrics: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) > 12:
        return f"[{len(value)} values]"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
