"""Reading a data set's CSV and JSON files: every error names the file, ids stay text.

``pandas.read_csv`` reads ``00001`` as the number 1 and reports a malformed file without its name;
a semicolon-separated export (what spreadsheet programs write in many locales) arrives as one column
and then as ninety "missing column" errors. :func:`read_csv` reads the named id columns as text,
names the file in every error and recognises the wrong delimiter.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("Patient_ID;score\\n00001;3\\n")
    >>> read_csv(path, text=["Patient_ID"])
    Traceback (most recent call last):
    ...
    ralib.data.validate.DataValidationError: .../t.csv: 1 problem
      - the file is separated by ';', not by commas (its header reads 'Patient_ID;score'): save it comma-separated, e.g. pandas.read_csv(path, sep=';').to_csv(path, index=False)
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ralib.data.validate import DataValidationError

_OTHER_DELIMITERS = {";": "';'", "\t": "tabs", "|": "'|'"}


def read_csv(path: str | Path, text: list[str] | tuple[str, ...] = (), **options) -> pd.DataFrame:
    """``pandas.read_csv`` with the columns ``text`` (ids, file names) read as strings and errors that
    name the file; ``options`` go to pandas (e.g. ``index_col=0``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file" + _listing(path.parent))
    try:
        frame = pd.read_csv(path, dtype={c: str for c in text}, keep_default_na=True, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataValidationError(str(path), [f"not a readable CSV file: {str(exc).strip()}"]) from exc
    header = ",".join(str(c) for c in frame.columns)
    if len(frame.columns) <= 2:  # ("Unnamed: 0", "a;b;c") when an index column was asked for
        for delimiter, name in _OTHER_DELIMITERS.items():
            if delimiter in header:
                raise DataValidationError(str(path), [
                    f"the file is separated by {name}, not by commas (its header reads {header[:80]!r}): save it "
                    f"comma-separated, e.g. pandas.read_csv(path, sep={delimiter!r}).to_csv(path, index=False)"])  # fmt: skip
    return frame


def read_json(path: str | Path):
    """A JSON file's content, with a parse error that names the file, line and column."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataValidationError(str(path), [f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]) from exc
    except UnicodeDecodeError as exc:
        raise DataValidationError(str(path), [f"not a text file: {exc}"]) from exc


def _listing(folder: Path, n: int = 8) -> str:
    if not folder.is_dir():
        return f" (and the folder {folder} does not exist)"
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    shown = ", ".join(names[:n]) + (", ..." if len(names) > n else "")
    return f" (the folder holds: {shown or 'nothing'})"
