from dataclasses import fields
from pathlib import Path

import pytest

from ralib import config


def test_three_profiles_exist_and_grow_from_smoke_to_paper():
    smoke, cpu, paper = (config.get_profile(n) for n in ("smoke", "cpu", "paper"))
    for section in ("data", "train"):
        for f in fields(getattr(smoke, section)):
            values = [getattr(getattr(p, section), f.name) for p in (smoke, cpu, paper)]
            if isinstance(values[0], int) and not f.name.endswith("batch_size"):  # the papers use batch 4
                assert values[0] <= values[1] <= values[2], f"{section}.{f.name} does not grow: {values}"


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match="smoke, cpu, paper"):
        config.get_profile("laptop")


@pytest.mark.parametrize("n", [1, 2, 24, 600, 3818, 1001])
def test_split_sizes_add_up_and_follow_the_real_proportions(n):
    parts = config.split_sizes(n)
    assert sum(parts) == n
    if n >= 100:
        real = [p / sum(config.REAL_SPLIT) for p in config.REAL_SPLIT]
        assert all(abs(part / n - r) < 0.01 for part, r in zip(parts, real))


def test_real_split_is_reproduced_exactly():
    assert config.split_sizes(3818) == config.REAL_SPLIT


def test_paths_follow_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RALIB_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("RALIB_RUNS", str(tmp_path / "out"))
    assert config.data_dir() == tmp_path / "cache"
    assert config.runs_dir("smoke") == tmp_path / "out" / "smoke"


def test_default_paths_sit_in_the_checkout(monkeypatch):
    monkeypatch.delenv("RALIB_DATA")
    monkeypatch.delenv("RALIB_RUNS")
    root = Path(config.__file__).resolve().parent.parent
    assert config.data_dir() == root / "data"
    assert config.runs_dir("cpu") == root / "runs" / "cpu"


def test_runs_dir_rejects_unknown_profile():
    with pytest.raises(ValueError):
        config.runs_dir("gpu")


def test_deepra_ablations_name_only_rows_the_notebook_knows():
    from dataclasses import replace

    deepra = config.get_profile("paper").deepra
    assert set(deepra.ablations) == {"whole hand", "no gate"} and config.get_profile("cpu").deepra.ablations == ()
    with pytest.raises(ValueError, match="whole hand"):
        replace(deepra, ablations=("no attention",))


def test_the_paper_check_keeps_the_papers_sizes_models_batches_and_epochs_on_a_few_films_cut_after_two_batches():
    from dataclasses import fields

    paper, check = config.get_profile("paper"), config.get_profile("paper-check")
    for part in ("train", "landmarks", "mil", "scorer", "deepra"):
        a, b = getattr(paper, part), getattr(check, part)
        for f in fields(a):
            if f.name.endswith(("epochs", "size", "backbone", "backbones", "models", "encoder")) and f.name != "epoch_size":
                assert getattr(b, f.name) == getattr(a, f.name), (part, f.name)
    assert check.data.image_size == paper.data.image_size and check.data.n_images == 40 and check.weights == "random"
    assert (check.dry_batches, check.micro_batch, paper.dry_batches, paper.micro_batch) == (2, 4, 0, 0)
    assert check.precision == paper.precision == "amp"
    # every count of training items shrinks with the films, so that one ratio scales the cost to the paper's run
    share = check.data.n_images / paper.data.n_images
    for full, dry in [(paper.data.n_children, check.data.n_children), (paper.scorer.epoch_size, check.scorer.epoch_size),
                      (paper.deepra.detector_hands[0], check.deepra.detector_hands[0])]:  # fmt: skip
        assert abs(dry - full * share) <= 0.5
