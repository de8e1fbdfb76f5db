"""The papermill runner on tiny notebooks written by the tests themselves."""

import json
import os

import nbformat
import pytest

from ralib import run as runner

OK_SOURCE = """
import ralib
r = ralib.start_run("01_ok", PROFILE, OUT_DIR)
r.log(answer=ANSWER * 2, profile_seen=PROFILE)
r.finish()
"""


def _notebook(path, body, params='PROFILE = "cpu"\nOUT_DIR = None\nANSWER = 1'):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def folder(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_ok.ipynb", OK_SOURCE)
    _notebook(nbs / "02_boom.ipynb", "x = 1\nraise ValueError('synthetic failure')")
    (nbs / "notes.ipynb").write_text("{}")  # not numbered: ignored
    return nbs


def test_discover_only_numbered_and_filter(folder):
    assert [p.stem for p in runner.discover(folder)] == ["01_ok", "02_boom"]
    assert [p.stem for p in runner.discover(folder, only=["02"])] == ["02_boom"]
    with pytest.raises(SystemExit, match="07"):
        runner.discover(folder, only=["07"])


def test_parse_parameters():
    assert runner.parse_parameters(["A=1", "B=x", "C=None", "D=[1,2]", "E=a=b"]) == {
        "A": 1, "B": "x", "C": None, "D": [1, 2], "E": "a=b"
    }
    with pytest.raises(SystemExit):
        runner.parse_parameters(["novalue"])


def test_main_runs_injects_parameters_writes_summary_and_names_the_failure(folder, tmp_path, capsys):
    code = runner.main(["--profile", "smoke", "--notebooks", str(folder), "-p", "ANSWER=21"])
    assert code == 1
    err = capsys.readouterr().err
    assert "FAILED 02_boom" in err and "ValueError: synthetic failure" in err
    # the cell is named by its index in the executed notebook (papermill adds one) and its last line
    assert "cell 2 of the executed notebook (`raise ValueError('synthetic failure')`)" in err

    out = tmp_path / "runs" / "smoke"
    record = json.loads((out / "01_ok" / "metrics.json").read_text())
    assert record["metrics"] == {"answer": 42, "profile_seen": "smoke"}
    assert (out / "01_ok" / "01_ok.ipynb").exists()
    summary = (out / "summary.md").read_text()
    assert "| 01_ok | ok |" in summary and "| answer | 42 |" in summary
    assert "02_boom | FAILED" in summary


def test_main_exits_zero_when_all_pass(folder):
    assert runner.main(["--profile", "smoke", "--notebooks", str(folder), "--only", "01"]) == 0


def test_a_notebook_that_writes_no_metrics_fails(folder, tmp_path):
    path = _notebook(folder / "03_silent.ipynb", "y = 2")
    result = runner.run_notebook(path, "smoke", out_root=tmp_path / "o")
    assert not result.ok and "metrics.json" in result.error


def test_a_hung_cell_fails_after_the_timeout(folder, tmp_path):
    path = _notebook(folder / "04_hang.ipynb", "import time\ntime.sleep(60)")
    result = runner.run_notebook(path, "smoke", out_root=tmp_path / "o", cell_timeout=3)
    assert not result.ok and "Timeout" in result.error


def test_stale_metrics_are_removed_before_a_run(folder, tmp_path):
    stale = tmp_path / "o" / "02_boom" / "metrics.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    result = runner.run_notebook(folder / "02_boom.ipynb", "smoke", out_root=tmp_path / "o")
    assert not result.ok and not stale.exists()


def test_publish_figures_copies_what_the_readme_and_docs_show(tmp_path):
    fig_dir = tmp_path / "runs" / "cpu" / "05_x" / "figures"
    fig_dir.mkdir(parents=True)
    (fig_dir / "roc.png").write_bytes(b"png")
    (fig_dir / "unused.png").write_bytes(b"png")
    (fig_dir / "detail.png").write_bytes(b"png")
    (tmp_path / "README.md").write_text("![roc](figures/05_x__roc.png)")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results.md").write_text("![a detail](../figures/05_x__detail.png)")
    copied = runner.publish_figures("cpu", tmp_path)
    assert [p.name for p in copied] == ["05_x__detail.png", "05_x__roc.png"]
    assert (tmp_path / "figures" / "05_x__roc.png").read_bytes() == b"png"
    (tmp_path / "README.md").write_text("![gone](figures/05_x__gone.png)")
    with pytest.raises(FileNotFoundError, match="05_x/figures/gone.png"):
        runner.publish_figures("cpu", tmp_path)
    (tmp_path / "figures" / "05_x__gone.png").write_bytes(b"earlier")  # an earlier run's figure, not made now: kept
    (tmp_path / "README.md").write_text("![gone](figures/05_x__gone.png) ![roc](figures/05_x__roc.png)")
    assert [p.name for p in runner.publish_figures("cpu", tmp_path)] == ["05_x__detail.png", "05_x__roc.png"]
    assert (tmp_path / "figures" / "05_x__gone.png").read_bytes() == b"earlier"


# --- what a user can get wrong on the command line ---------------------------------------------


def test_unknown_or_runner_owned_parameters_are_refused_before_running(folder, tmp_path):
    with pytest.raises(SystemExit, match=r"-p ANSWERS: no selected notebook has this parameter \(did you mean ANSWER\?\)"):
        runner.main(["--profile", "smoke", "--notebooks", str(folder), "-p", "ANSWERS=5"])
    with pytest.raises(SystemExit, match="the runner sets PROFILE; use --profile"):
        runner.main(["--profile", "smoke", "--notebooks", str(folder), "-p", "PROFILE=cpu"])
    with pytest.raises(SystemExit, match="the runner sets OUT_DIR; use --out"):
        runner.main(["--profile", "smoke", "--notebooks", str(folder), "-p", f"OUT_DIR={tmp_path}"])
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_a_parameter_goes_only_to_the_notebooks_that_declare_it(folder, tmp_path):
    _notebook(folder / "03_other.ipynb", OK_SOURCE.replace("ANSWER * 2", "2"), 'PROFILE = "cpu"\nOUT_DIR = None')
    assert runner.main(["--profile", "smoke", "--notebooks", str(folder), "--only", "01", "03", "-p", "ANSWER=4",
                        "--out", str(tmp_path / "sweep")]) == 0  # fmt: skip
    runs = {nb: json.loads((tmp_path / "sweep" / nb / "run.json").read_text()) for nb in ("01_ok", "03_other")}
    assert runs["01_ok"]["parameters"] == {"ANSWER": 4} and runs["03_other"]["parameters"] == {}
    assert json.loads((tmp_path / "sweep" / "01_ok" / "metrics.json").read_text())["metrics"]["answer"] == 8


def test_summary_keeps_earlier_notebooks_and_multiline_errors_in_their_cell(folder, tmp_path, capfd):
    _notebook(folder / "05_lines.ipynb", "raise ValueError('first line\\nsecond | line')")
    runner.main(["--profile", "smoke", "--notebooks", str(folder), "--only", "01"])
    runner.main(["--profile", "smoke", "--notebooks", str(folder), "--only", "05"])
    summary = (tmp_path / "runs" / "smoke" / "summary.md").read_text()
    table = [line for line in summary.splitlines() if line.startswith("| 0")]
    assert [row.split(" | ")[0] for row in table] == ["| 01_ok", "| 05_lines"]  # the first run is still there
    assert all(row.count(" | ") == 5 for row in table)  # six cells each: the error stays in its cell
    assert "## Failures" in summary and "second | line" in summary
    assert "without encryption" not in capfd.readouterr().err  # the kernel talks over local sockets


def test_an_unchanged_notebook_is_skipped_and_any_change_or_force_runs_it_again(folder, tmp_path, capsys):
    args = ["--profile", "smoke", "--notebooks", str(folder), "--only", "01"]
    record = tmp_path / "runs" / "smoke" / "01_ok" / "run.json"
    assert runner.main(args) == 0
    first = json.loads(record.read_text())
    assert runner.main(args) == 0
    assert "unchanged since its last successful run, skipped" in capsys.readouterr().out
    assert json.loads(record.read_text())["finished"] == first["finished"]  # not run again
    assert runner.main([*args, "-p", "ANSWER=2"]) == 0  # other parameters: run
    assert json.loads((record.parent / "metrics.json").read_text())["metrics"]["answer"] == 4
    assert runner.main([*args, "-p", "ANSWER=2", "--force"]) == 0
    assert "skipped" not in capsys.readouterr().out.split("01_ok (smoke) ...")[-1]
    nb = nbformat.read(folder / "01_ok.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("z = 3"))
    nbformat.write(nb, folder / "01_ok.ipynb")
    before = json.loads(record.read_text())["inputs"]
    assert runner.main([*args, "-p", "ANSWER=2"]) == 0  # the notebook changed: run
    assert json.loads(record.read_text())["inputs"] != before


def test_a_notebook_reruns_when_a_notebook_it_uses_ran_again(folder, tmp_path):
    nb = nbformat.read(folder / "01_ok.ipynb", as_version=4)
    nb.metadata["ralib"] = {"uses": ["00_up"]}
    nbformat.write(nb, folder / "01_ok.ipynb")
    out = tmp_path / "o"
    (out / "00_up").mkdir(parents=True)
    (out / "00_up" / "run.json").write_text('{"finished": "then"}')
    assert not runner.run_notebook(folder / "01_ok.ipynb", "smoke", out_root=out, force=False).skipped
    assert runner.run_notebook(folder / "01_ok.ipynb", "smoke", out_root=out, force=False).skipped
    (out / "00_up" / "run.json").write_text('{"finished": "now"}')
    assert not runner.run_notebook(folder / "01_ok.ipynb", "smoke", out_root=out, force=False).skipped


def test_run_json_names_the_commit_and_whether_the_code_had_changed_since(tmp_path):
    import subprocess

    from ralib.run import source_commit

    assert source_commit(tmp_path) is None  # not a checkout
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "a.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert source_commit(tmp_path) == head
    (tmp_path / "a.py").write_text("x = 2\n")
    assert source_commit(tmp_path) == head + "+changes"
    (tmp_path / "sub").mkdir()
    assert source_commit(tmp_path / "sub") is None  # a folder inside a checkout is not the checkout


def test_a_relative_path_parameter_is_read_where_the_command_was_typed_not_from_the_notebooks(folder, tmp_path, monkeypatch):
    _notebook(folder / "03_paths.ipynb", "import ralib\nr = ralib.start_run('03_paths', PROFILE, OUT_DIR)\nr.log(data_dir=DATA_DIR)\nr.finish()",
              params='PROFILE = "cpu"\nOUT_DIR = None\nDATA_DIR = None')  # fmt: skip
    (tmp_path / "work" / "films").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    out = tmp_path / "out"
    assert runner.main(["--profile", "smoke", "--notebooks", str(folder), "--only", "03", "-p", "DATA_DIR=films", "--out", str(out)]) == 0
    record = json.loads((out / "03_paths" / "metrics.json").read_text())
    assert record["metrics"]["data_dir"] == str(tmp_path / "work" / "films")


def test_a_file_parameter_is_tracked_by_content_so_a_file_replaced_under_its_name_reruns(folder, tmp_path):
    localiser = tmp_path / "localiser.pt"
    localiser.write_bytes(b"first weights")
    notebook = folder / "01_ok.ipynb"
    first = runner.input_fingerprint(notebook, "smoke", {"LOCALISER": str(localiser)}, tmp_path)
    stat = localiser.stat()
    localiser.write_bytes(b"other weights")  # the same size and, restored below, the same time: only the bytes differ
    os.utime(localiser, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert runner.input_fingerprint(notebook, "smoke", {"LOCALISER": str(localiser)}, tmp_path) != first
