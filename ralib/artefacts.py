"""Files one notebook leaves for another (the localiser of 05, the checkpoints of 03): one rule to find them.

A path the user gave wins; otherwise the file is looked for in the other notebook's folder beside the running
one (``runs/<profile>/<notebook>/<name>`` when the run is ``runs/<profile>/<this notebook>``). A missing file is
an error that says which notebook to run first, unless the caller can do without it (``required=False``): then
it is ``None`` and a printed line says what is left out. A path the user gave that is no file is always an error.

Example:
    >>> import tempfile
    >>> runs = Path(tempfile.mkdtemp())
    >>> (runs / "05_joint_localisation").mkdir(); _ = (runs / "05_joint_localisation" / "localiser.pt").write_bytes(b"")
    >>> find(runs / "09_joint_scorer_deepra", "05_joint_localisation", "localiser.pt").name
    'localiser.pt'
    >>> find(runs / "09_joint_scorer_deepra", "03_whole_image_cnn", "model.pt", required=False, purpose="the reference row")
    no model.pt of 03_whole_image_cnn in ...: the reference row left out (run 03_whole_image_cnn first for it)
"""

from __future__ import annotations

from pathlib import Path


def find(run_dir: str | Path, notebook: str, name: str, given: str | Path | None = None, required: bool = True,
         purpose: str = "") -> Path | None:  # fmt: skip
    """The file ``name`` that ``notebook`` left beside the run folder ``run_dir`` (or ``given``, when set)."""
    path = Path(given) if given else Path(run_dir).parent / notebook / name
    if path.is_file():
        return path
    if given:  # a path the user typed is never left out quietly
        raise FileNotFoundError(f"no file {path} (given for the {name} of {notebook})")
    where = f"{path.parent}"
    if required:
        raise FileNotFoundError(f"no {name} of {notebook} in {where}: run {notebook} first "
                                f"(python -m ralib.run --only {notebook[:2]}) or give its path")  # fmt: skip
    print(f"no {name} of {notebook} in {where}: {purpose or 'what needs it'} left out (run {notebook} first for it)")
    return None
