"""Scheme 1 tiles: the grid covers a film once, the weak labels follow the paper's rule, top-K order."""

import numpy as np
import pytest

from ralib.patches.tiles import TILE_CLASSES, cut_tiles, foreground_share, tile_grid, top_k, weak_tile_labels


@pytest.mark.parametrize("height, width", [(100, 45), (1750, 1432), (64, 64), (333, 1000)])
def test_the_tiles_cover_every_pixel_of_the_film_exactly_once(height, width):
    tiles = tile_grid(height, width)
    covered = np.zeros((height + tiles[0, 2], width + tiles[0, 2]), int)
    for y, x, s in tiles:
        covered[y : y + s, x : x + s] += 1
    assert (covered[:height, :width] == 1).all() and covered.max() == 1
    assert tiles[0, 2] == int(np.ceil(max(height, width) / 10))


def test_tiles_past_the_edge_are_filled_with_background_and_resized():
    film = np.ones((25, 20), np.float32)
    tiles = tile_grid(25, 20)  # side 3
    assert cut_tiles(film, tiles, 6, fill=0.0).shape == (len(tiles), 6, 6)
    last = cut_tiles(film, tiles, 3, fill=0.0)[-1]  # rows 24-26 x columns 18-20 of a 25 x 20 film
    assert last.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 0]]
    shares = foreground_share(film > 0, tiles)
    assert shares[0] == 1 and shares[-1] == pytest.approx(1 / 3 * 2 / 3)


def test_weak_labels_follow_the_films_total_and_the_foreground():
    shares = np.array([0.0, 0.02, 0.5])
    n, a, b = (TILE_CLASSES.index(c) for c in ("normal", "abnormal", "background"))
    assert weak_tile_labels(3, shares).tolist() == [b, b, n]
    assert weak_tile_labels(70, shares).tolist() == [b, b, a]
    assert weak_tile_labels(30, shares).tolist() == [b, b, -1]


def test_top_k_takes_abnormal_then_normal_then_background_each_by_abnormality():
    p = np.array([
        [0.1, 0.1, 0.8],   # background
        [0.5, 0.4, 0.1],   # normal, abnormality 0.4
        [0.2, 0.7, 0.1],   # abnormal 0.7
        [0.3, 0.2, 0.5],   # background, abnormality 0.2
        [0.45, 0.5, 0.05], # abnormal 0.5
        [0.8, 0.15, 0.05], # normal 0.15
    ])  # fmt: skip
    assert top_k(p, 6).tolist() == [2, 4, 1, 5, 3, 0]
    assert top_k(p, 3).tolist() == [2, 4, 1]
    assert len(top_k(p, 10)) == 6  # fewer tiles than K: all of them


def test_the_tile_cache_holds_every_tile_of_every_film_once(synthetic, isolated_paths):
    from ralib.data.arrays import stretched_film
    from ralib.patches.tiles import tile_cache

    cache = tile_cache(synthetic, 16, progress=False)
    t = cache.table
    first = synthetic.radiographs.iloc[0]
    film = stretched_film(first)  # the film every cache cuts from
    tiles = tile_grid(*film.shape)
    mine = t[t.radiograph_id == str(first.radiograph_id)]
    assert len(mine) == len(tiles) and mine.tile.tolist() == list(range(len(tiles)))
    expected = np.round(np.clip(cut_tiles(film, tiles, 16), 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(np.asarray(cache.images[mine.crop.to_numpy()]), expected)
    assert set(t.radiograph_id) == set(synthetic.radiographs.radiograph_id.astype(str))
    assert tile_cache(synthetic, 16, progress=False).folder == cache.folder  # built once


def test_foreground_shares_map_the_tiles_into_the_letterboxed_masks():
    import pandas as pd

    from ralib.patches.tiles import foreground_shares

    tiles = tile_grid(100, 50)  # side 10: 10 rows x 5 columns
    table = pd.DataFrame({"radiograph_id": "a", "y0": tiles[:, 0], "x0": tiles[:, 1], "side": tiles[:, 2]})
    # the 100 x 50 film letterboxed into 20 x 20: scale 0.2, centred 5 px from the left
    placement = pd.DataFrame({"radiograph_id": ["a"], "sx": [0.2], "sy": [0.2], "ox": [5], "oy": [0]})
    masks = np.zeros((1, 20, 20), bool)
    masks[0, :, 5:10] = True  # the film's left half is foreground
    shares = foreground_shares(table, masks, placement)
    expected = np.select([tiles[:, 1] < 20, tiles[:, 1] == 20], [1.0, 0.5], 0.0)  # the column at x 20-30 is split
    assert shares.tolist() == expected.tolist()


def test_tile_bags_take_each_films_top_k_and_pad_short_films():
    import pandas as pd

    from ralib.patches.tiles import tile_bags

    table = pd.DataFrame({"radiograph_id": ["a", "a", "a", "b"]})
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.2, 0.6, 0.2]])
    rows, mask = tile_bags(table, p, ["b", "a"], k=2)
    assert rows.tolist() == [[3, -1], [1, 0]] and mask.tolist() == [[True, False], [True, True]]


def test_an_interrupted_cache_build_leaves_nothing_behind(tmp_path):
    from ralib.patches.cache import building

    folder = tmp_path / "cache"
    with pytest.raises(RuntimeError):
        with building([folder]) as (tmp,):
            (tmp / "crops.npy").write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with building([folder]) as (tmp,):
        (tmp / "crops.npy").write_bytes(b"all")
    assert [p.name for p in tmp_path.iterdir()] == ["cache"] and (folder / "crops.npy").read_bytes() == b"all"


def test_the_tile_cache_holds_each_tables_tile_in_its_row(tmp_path, monkeypatch):
    from ralib.data import load_dataset
    from ralib.data.arrays import stretched_film
    from ralib.data.io import read_radiograph
    from ralib.patches.tiles import tile_cache
    from ralib.synth import SynthConfig, make_dataset

    monkeypatch.setenv("RALIB_DATA", str(tmp_path / "data"))
    ds = load_dataset("synthra", make_dataset(SynthConfig(n_images=3, image_size=200, seed=5), tmp_path, progress=False, workers=1))
    cache = tile_cache(ds, 16, progress=False)
    t = cache.table
    assert len(cache.images) == len(t) and (t.crop == np.arange(len(t))).all()
    assert t.groupby("radiograph_id").size().to_dict() == {
        str(r.radiograph_id): len(tile_grid(*read_radiograph(r._asdict()).shape)) for r in ds.radiographs.itertuples(index=False)}
    last = ds.radiographs.iloc[-1]
    film = stretched_film(last.to_dict())
    tiles = tile_grid(*film.shape)
    rows = np.flatnonzero(t.radiograph_id == str(last.radiograph_id))
    expected = np.round(np.clip(cut_tiles(film, tiles, 16), 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(cache.images[rows], expected)
