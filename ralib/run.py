"""Run the numbered notebooks headless with papermill and gather their metrics.

Command line::

    python -m ralib.run                          # every notebook, cpu profile, into runs/cpu/
    python -m ralib.run --profile smoke --only 01 03
    python -m ralib.run -p SEED=1 -p DATASET=ra2dream -p DATA_DIR=/data/ra2
    python -m ralib.run --only 03 -p SEED=1 --out runs/cpu-seed1
    python -m ralib.run --force --only 05      # run 05 even though nothing it depends on changed

Each notebook ``NN_slug.ipynb`` is executed into ``runs/<profile>/NN_slug/NN_slug.ipynb`` (or
``<out>/NN_slug/``); the notebook itself writes ``metrics.json`` and ``figures/`` beside it (see
:mod:`ralib.tracking`), the runner a ``run.json`` saying how it went. ``summary.md`` in the same
folder gathers every notebook run there, this time or before, with its status, time and metrics.
A notebook whose inputs have not changed since its last successful run in the same folder is skipped
(``--force`` runs it anyway): its inputs are the notebook itself, the ``ralib`` files its code imports
(followed transitively, :mod:`ralib.sources`), the profile and parameters, the files under any ``*_DIR``
parameter, and the last runs of the notebooks its metadata lists under ``ralib.uses`` (e.g. the localiser
of ``05`` that later notebooks reuse). A ``-p`` name that no selected notebook declares in its parameters
cell is refused before anything runs; ``PROFILE`` and ``OUT_DIR`` are set by ``--profile`` and ``--out``. The command exits non-zero
when a notebook fails and names it and the failing cell.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ralib.config import PROFILE_NAMES, WEIGHT_STARTS, get_profile, notebooks_dir, project_root, runs_dir
from ralib.sources import PACKAGE, notebook_sources

#: parameters the runner sets itself, and the option that sets each
RUNNER_PARAMETERS = {"PROFILE": "--profile", "OUT_DIR": "--out"}

#: parameters that name a file or a folder besides every ``*_DIR`` but ``OUT_DIR``: read where the user typed them
#: (:func:`resolve_paths`) and tracked by what they hold (:func:`input_fingerprint`)
PATH_PARAMETERS = ("LOCALISER", "REAL_CHECKPOINT", "REAL_EVIDENCE", "WEIGHTS")
#: path parameters that may hold a word instead
WORDS = {"WEIGHTS": WEIGHT_STARTS}


def is_path_parameter(name: str, value: object = None) -> bool:
    """Whether parameter ``name`` (holding ``value``) names a file or a folder.

    Example:
        >>> [is_path_parameter(n) for n in ("DATA_DIR", "LOCALISER", "OUT_DIR", "DATASET")]
        [True, True, False, False]
        >>> is_path_parameter("WEIGHTS", "imagenet"), is_path_parameter("WEIGHTS", "../weights")
        (False, True)
    """
    if value in WORDS.get(name, ()):
        return False
    return (name.endswith("_DIR") and name != "OUT_DIR") or name in PATH_PARAMETERS


def resolve_paths(parameters: dict, base: Path | None = None) -> dict:
    """``parameters`` with every relative path of a path parameter made absolute against ``base`` (the folder the
    command was typed in), not against ``notebooks/``, where papermill runs the kernel.

    Example:
        >>> resolve_paths({"DATA_DIR": "../x", "LOCALISER": "/abs/l.pt", "SEED": 1}, Path("/home/me/work"))
        {'DATA_DIR': '/home/me/x', 'LOCALISER': '/abs/l.pt', 'SEED': 1}
    """
    base = Path(base or Path.cwd())
    return {name: str(Path(os.path.normpath(base / value))) if is_path_parameter(name, value) and isinstance(value, str) and value
            else value for name, value in parameters.items()}  # fmt: skip


@dataclass
class NotebookResult:
    """What happened to one notebook."""

    notebook: str
    ok: bool
    seconds: float
    output: Path
    error: str = ""
    parameters: dict = field(default_factory=dict)
    inputs: str = ""  # the fingerprint of everything the run depended on (input_fingerprint)
    skipped: bool = False  # unchanged since the last successful run, not run again

    @property
    def metrics_path(self) -> Path:
        return self.output.parent / "metrics.json"

    def save(self, profile: str) -> Path:
        """Write ``run.json`` beside the executed notebook (what :func:`write_summary` reads)."""
        record = {"notebook": self.notebook, "ok": self.ok, "seconds": round(self.seconds, 1), "error": self.error,
                  "profile": profile, "parameters": self.parameters, "inputs": self.inputs, "commit": source_commit(),
                  "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}  # fmt: skip
        path = self.output.parent / "run.json"
        path.write_text(json.dumps(record, indent=2, default=str) + "\n")
        return path


def source_commit(root: Path | None = None) -> str | None:
    """The git commit the code at ``root`` (default: the checkout) comes from, short, with ``+changes`` when
    tracked files differ from it; None outside a git checkout. Recorded in each ``run.json``.

    Example:
        >>> import tempfile; source_commit(Path(tempfile.mkdtemp())) is None
        True
    """
    root = Path(root or project_root())
    try:
        git = ["git", "-C", str(root)]
        top = subprocess.run([*git, "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
        if Path(top).resolve() != root.resolve():
            return None  # a folder inside some other repository
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+changes" if changed.strip() else "")


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


def notebook_parameters(path: Path) -> dict:
    """The names and values of a notebook's ``parameters`` cell (upper-case literals).

    Example:
        >>> sorted(notebook_parameters(discover(only=["00_svdh_primer"])[0]))
        ['OUT_DIR', 'PROFILE', 'SEED']
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    found = {}
    for cell in cells:
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        try:
                            found[target.id] = ast.literal_eval(node.value)
                        except ValueError:
                            found[target.id] = ast.unparse(node.value)
    return found


def check_parameters(parameters: dict, notebooks: list[Path]) -> dict[str, dict]:
    """Per notebook, the given parameters it declares; raise ``SystemExit`` for a name that no notebook
    declares (with the closest declared name) or that the runner sets itself.

    Example:
        >>> check_parameters({"SEEDS": 5}, discover(only=["00_svdh_primer"]))
        Traceback (most recent call last):
        ...
        SystemExit: -p SEEDS: no selected notebook has this parameter (did you mean SEED?); ...
    """
    declared = {path.stem: notebook_parameters(path) for path in notebooks}
    known = sorted(set().union(*declared.values())) if declared else []
    for name in parameters:
        if name in RUNNER_PARAMETERS:
            raise SystemExit(f"-p {name}: the runner sets {name}; use {RUNNER_PARAMETERS[name]} instead")
        if not any(name in names for names in declared.values()):
            close = difflib.get_close_matches(name, [k for k in known if k not in RUNNER_PARAMETERS], n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            listing = ", ".join(k for k in known if k not in RUNNER_PARAMETERS)
            raise SystemExit(f"-p {name}: no selected notebook has this parameter{hint}; they have: {listing}")
    return {stem: {k: v for k, v in parameters.items() if k in names} for stem, names in declared.items()}


def input_fingerprint(path: Path, profile: str, parameters: dict, out_root: Path) -> str:
    """A hash of everything a run of notebook ``path`` depends on (see the module docstring).

    Example:
        >>> nb = discover(only=["00_svdh_primer"])[0]
        >>> a = input_fingerprint(nb, "cpu", {}, Path("/nonexistent"))
        >>> a == input_fingerprint(nb, "cpu", {}, Path("/nonexistent")), a == input_fingerprint(nb, "smoke", {}, Path("/nonexistent"))
        (True, False)
    """
    import nbformat

    h = hashlib.sha256()
    h.update(path.read_bytes())
    h.update(json.dumps([profile, parameters], sort_keys=True, default=str).encode())
    for source in notebook_sources(path):
        h.update(str(source.relative_to(PACKAGE)).encode() + source.read_bytes())
    for name, value in sorted(parameters.items()):
        if not (is_path_parameter(name, value) and isinstance(value, str) and Path(value).exists()):
            continue
        if Path(value).is_file():  # a checkpoint or a localiser: by content, so a file replaced under its name counts
            h.update(hashlib.sha256(Path(value).read_bytes()).digest())
            continue
        for f in sorted(Path(value).rglob("*")):  # a data or weights folder: by each file's size and time, not gigabytes read
            if f.is_file():
                stat = f.stat()
                h.update(f"{f}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    uses = nbformat.read(path, as_version=4).metadata.get("ralib", {}).get("uses", [])
    for upstream in uses:
        record = Path(out_root) / upstream / "run.json"
        h.update(record.read_bytes() if record.exists() else f"{upstream}: not run".encode())
    return h.hexdigest()[:16]


def unchanged_since_last_run(path: Path, out_root: Path, inputs: str) -> dict | None:
    """The last run's record when it succeeded with the same inputs (and its metrics are there), else None."""
    out_dir = Path(out_root) / path.stem
    try:
        record = json.loads((out_dir / "run.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if record.get("ok") and record.get("inputs") == inputs and (out_dir / "metrics.json").exists():
        return record
    return None


def run_notebook(
    path: Path,
    profile: str = "cpu",
    parameters: dict | None = None,
    out_root: Path | None = None,
    progress: bool = False,
    cell_timeout: int | None = 3600,
    force: bool = True,
) -> NotebookResult:
    """Execute one notebook with papermill, injecting ``PROFILE``, ``OUT_DIR`` (and ``SHOW_WIDGETS=False``
    where the notebook has that parameter) into ``<out_root>/<notebook>/`` (default ``runs/<profile>``).

    The kernel runs in the notebook's folder, as in JupyterLab, and talks to papermill over local
    sockets. A failure, or a cell running longer than ``cell_timeout`` seconds, is caught and described
    (notebook, cell, exception) in the returned result rather than raised; parameters the notebook
    does not declare raise ``SystemExit`` before it runs. Unless ``force``, a notebook whose inputs are
    unchanged since its last successful run there (:func:`input_fingerprint`) is not run again.
    """
    import papermill as pm

    get_profile(profile)
    parameters = dict(parameters or {})
    check_parameters(parameters, [path])
    out_root = Path(out_root or runs_dir(profile))
    out_dir = out_root / path.stem
    inputs = input_fingerprint(path, profile, parameters, out_root)
    if not force and (last := unchanged_since_last_run(path, out_root, inputs)):
        return NotebookResult(path.stem, True, float(last.get("seconds", 0)), out_dir / path.name, parameters=parameters,
                              inputs=inputs, skipped=True)  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("metrics.json", "run.json"):  # never report a stale result
        (out_dir / stale).unlink(missing_ok=True)
    output = out_dir / path.name
    # headless: notebooks show static figures instead of live widgets, which can stall nbclient
    params = {"PROFILE": profile, "OUT_DIR": str(out_dir)}
    if "SHOW_WIDGETS" in notebook_parameters(path):
        params["SHOW_WIDGETS"] = False
    params |= parameters
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
            kernel_manager_class=_local_kernel_manager(),
        )
    except pm.PapermillExecutionError as exc:
        message = (str(exc.evalue).strip().splitlines() or [""])[0]
        last_line = (str(exc.source).strip().splitlines() or [""])[-1]
        error = (
            f"cell {exc.cell_index} of the executed notebook (`{last_line[:80]}`) "
            f"raised {exc.ename}: {message}"
        )
        return _finished(NotebookResult(path.stem, False, time.time() - start, output, error, parameters), profile, inputs)
    except Exception as exc:  # kernel died, unreadable notebook
        return _finished(NotebookResult(path.stem, False, time.time() - start, output, f"{type(exc).__name__}: {exc}", parameters), profile, inputs)  # fmt: skip
    seconds = time.time() - start
    if not (out_dir / "metrics.json").exists():
        return _finished(NotebookResult(path.stem, False, seconds, output, "finished without writing metrics.json", parameters), profile, inputs)  # fmt: skip
    return _finished(NotebookResult(path.stem, True, seconds, output, parameters=parameters), profile, inputs)


def _finished(result: NotebookResult, profile: str, inputs: str) -> NotebookResult:
    result.inputs = inputs
    result.save(profile)
    return result


def _local_kernel_manager():
    """A Jupyter kernel manager that talks to the kernel over local (IPC) sockets where the OS has them:
    nothing leaves the machine, and the kernel does not warn about unencrypted TCP on every run."""
    from jupyter_client import AsyncKernelManager  # nbclient's default; its cell timeouts need the async one

    if os.name == "nt":
        return AsyncKernelManager

    class LocalKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)

    return LocalKernelManager


def dry_run_report(folder: Path, profile: str) -> str:
    """Add the full run's GPU estimate (:func:`ralib.train.cost.gpu_estimate`) to the ``metrics.json`` a dry run of
    ``profile`` wrote in ``folder``, and say it in a line with the notebook's peak memory."""
    from ralib.train.cost import gpu_estimate

    dry = get_profile(profile)
    full = get_profile(profile.removesuffix("-check"))
    path = Path(folder) / "metrics.json"
    record = json.loads(path.read_text())
    record["gpu_estimate"] = estimate = gpu_estimate(folder, dry, full)
    path.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    return (f"peak memory {record['peak_memory_gb']} GB (a worker: {record.get('peak_worker_memory_gb')} GB); "
            f"{estimate['trainings']} trainings, {estimate['full_run_training_flops']:.3g} FLOPs at the {full.name} profile: "
            f"about {estimate['full_run_gpu_hours']} GPU hours at {estimate['assumed_sustained_tflops']:g} TFLOP/s sustained")


def write_summary(folder: Path, profile: str) -> Path:
    """Write ``<folder>/summary.md`` from every notebook run in ``folder`` (its ``run.json`` and
    ``metrics.json``), whether it ran this time or before: one row per notebook, the full text of
    each failure, then each notebook's metrics."""
    records = []
    for run_file in sorted(Path(folder).glob("*/run.json")):
        run = json.loads(run_file.read_text())
        metrics_file = run_file.parent / "metrics.json"
        records.append((run, json.loads(metrics_file.read_text()) if metrics_file.exists() else {}))
    lines = [
        f"# Summary of the `{profile}` runs in `{folder}`",
        "",
        "| notebook | status | finished (UTC) | minutes | figures | parameters |",
        "|---|---|---|---|---|---|",
    ]
    failures, sections = [], []
    for run, record in records:
        status = "ok" if run["ok"] else f"FAILED: {_cell(run['error'].splitlines()[0] if run['error'] else '')}"
        given = ", ".join(f"{k}={v}" for k, v in run.get("parameters", {}).items()) or "defaults"
        lines.append(f"| {run['notebook']} | {status} | {run['finished'][:16].replace('T', ' ')} | "
                     f"{run['seconds'] / 60:.1f} | {len(record.get('figures', []))} | {_cell(given)} |")  # fmt: skip
        if not run["ok"]:
            failures += ["", f"### {run['notebook']}", "", "```", run["error"], "```"]
        if record.get("metrics"):
            sections += ["", f"## {run['notebook']}", "", "| metric | value |", "|---|---|"]
            sections += [f"| {_cell(k)} | {_cell(_fmt(v))} |" for k, v in _flatten(record["metrics"]).items()]
    if failures:
        failures = ["", "## Failures", *failures]
    path = Path(folder) / "summary.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines + failures + sections) + "\n")
    return path


def _cell(text: str) -> str:
    """Text that stays inside one cell of a Markdown table."""
    return " ".join(str(text).split()).replace("|", "\\|")


def publish_figures(profile: str = "cpu", root: Path | None = None) -> list[Path]:
    """Copy the figures that README.md and the pages of ``docs/`` show from ``runs/<profile>/`` into ``figures/``.

    They link figures as ``figures/<notebook>__<name>.png`` (``../figures/...`` from ``docs/``); each is copied from
    ``runs/<profile>/<notebook>/figures/<name>.png``. A linked figure the run did not make is kept as it is when
    ``figures/`` already holds it (an earlier run's figure the README discusses as such) and named; one in neither
    place is an error.
    """
    root = root or project_root()
    pages = "\n".join(page.read_text() for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))])
    linked = sorted(set(re.findall(r"figures/([0-9]{2}_[A-Za-z0-9_]+?)__([A-Za-z0-9_.-]+?\.png)", pages)))
    not_made = [(nb, name) for nb, name in linked if not (runs_dir(profile) / nb / "figures" / name).exists()]
    missing = [f"{nb}/figures/{name}" for nb, name in not_made if not (root / "figures" / f"{nb}__{name}").exists()]
    if missing:
        raise FileNotFoundError(f"README.md or docs/ show figures the {profile} run did not make: {', '.join(missing)}")
    for nb, name in not_made:
        print(f"figures/{nb}__{name}: not made by this run, kept from an earlier one")
    (root / "figures").mkdir(exist_ok=True)
    copied = []
    for nb, name in (pair for pair in linked if pair not in not_made):
        dest = root / "figures" / f"{nb}__{name}"
        shutil.copyfile(runs_dir(profile) / nb / "figures" / name, dest)
        copied.append(dest)
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ralib.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", choices=PROFILE_NAMES)
    parser.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers or stems to run")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=None, help="folder of the runs (default: runs/<profile>)")
    parser.add_argument("--notebooks", type=Path, default=None, help="folder of notebooks (default: notebooks/)")
    parser.add_argument("--cell-timeout", type=int, default=3600, help="seconds before a cell counts as hung")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failing notebook")
    parser.add_argument("--publish-figures", action="store_true", help="copy the run's figures to figures/")
    parser.add_argument("--force", action="store_true", help="run notebooks even when nothing they depend on changed")
    args = parser.parse_args(argv)

    notebooks = discover(args.notebooks, only=args.only)
    per_notebook = check_parameters(resolve_paths(parse_parameters(args.parameter)), notebooks)
    out_root = (args.out or runs_dir(args.profile)).absolute()
    results = []
    for i, nb in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {nb.stem} ({args.profile}) ...", flush=True)
        result = run_notebook(nb, args.profile, per_notebook[nb.stem], out_root, progress=sys.stderr.isatty(),
                              cell_timeout=args.cell_timeout, force=args.force)  # fmt: skip
        results.append(result)
        if result.skipped:
            print(f"[{i}/{len(notebooks)}] {nb.stem}: unchanged since its last successful run, skipped (--force runs it)")
            continue
        print(f"[{i}/{len(notebooks)}] {nb.stem}: {'ok' if result.ok else 'FAILED'} in {result.seconds:.0f} s")
        if result.ok and get_profile(args.profile).dry_batches:
            print(f"    {dry_run_report(result.output.parent, args.profile)}")
        if not result.ok:
            print(f"    {result.error}\n    executed notebook: {result.output}", file=sys.stderr)
            if args.fail_fast:
                break

    summary = write_summary(out_root, args.profile)
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
