"""Damaged caches are found, named, moved aside and built again: a truncated file, a zeroed tail, a file
without its checksum record; the values after the rebuild are those of the first build."""

from pathlib import Path

import numpy as np
import pytest

from ralib.config import data_dir
from ralib.data.arrays import film_array, letterboxed_films, stretched_film
from ralib.integrity import intact, load_intact, seal
from ralib.patches.cache import crop_cache


def zero_tail(path: Path, n: int = 64) -> None:
    with open(path, "r+b") as f:
        f.seek(-n, 2)
        f.write(bytes(n))


def truncate(path: Path, n: int = 64) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-n])


@pytest.mark.parametrize("damage", [zero_tail, truncate])
def test_a_damaged_sealed_file_is_moved_aside_and_reported(tmp_path, capsys, damage):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(5000, dtype=np.uint16))
    seal(path)
    assert intact(path) and load_intact(path, mmap=True)[-1] == 4999
    damage(path)
    assert load_intact(path) is None and not path.exists() and (tmp_path / "a.npy.damaged").exists()
    assert "a.npy: damaged (" in capsys.readouterr().out
    np.save(path, np.zeros(3))  # a file without its record: an interrupted or older build, removed quietly
    assert not intact(path) and not path.exists()


def test_letterboxed_films_and_film_arrays_are_rebuilt_when_damaged(synthetic, capsys):
    first = np.array(letterboxed_films(synthetic, 64, progress=False).images)
    films = film_array(synthetic, 32)
    (boxed,) = (data_dir() / "arrays").glob("letterboxed-*.npy")
    (arrays,) = (data_dir() / "arrays").glob("films-*.npy")
    truncate(boxed)  # (its tail is a letterbox's black border: zeroing it changes nothing)
    zero_tail(arrays)
    again = np.array(letterboxed_films(synthetic, 64, progress=False).images)
    assert np.array_equal(first, again) and np.array_equal(films, film_array(synthetic, 32))
    out = capsys.readouterr().out
    assert f"{boxed.name}: damaged (" in out and f"{arrays.name}: damaged (its checksum differs" in out


def test_a_film_kept_decoded_is_decoded_again_when_damaged(synthetic, capsys):
    row = synthetic.radiographs.iloc[0]
    first = stretched_film(row)
    (kept,) = (data_dir() / "films").glob("*.npy")
    truncate(kept)
    assert np.array_equal(stretched_film(row), first)
    assert "damaged (" in capsys.readouterr().out


def test_a_crop_cache_whose_tail_was_zeroed_is_cut_again(synthetic, capsys):
    first = crop_cache(synthetic, "patches", 16, progress=False)
    crops = np.array(first.images)
    zero_tail(first.folder / "crops.npy", 16 * 16)
    again = crop_cache(synthetic, "patches", 16, progress=False)
    assert np.array_equal(np.array(again.images), crops) and crops[-1].any()
    out = capsys.readouterr().out
    assert f"{first.folder.name}: damaged (its checksum differs" in out
    assert Path(f"{first.folder}.damaged").is_dir()

