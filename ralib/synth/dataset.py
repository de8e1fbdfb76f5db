"""SynthRA on disk: deterministic, parallel, cached, written atomically.

``make_dataset(config)`` renders ``config.n_images`` dual-hand radiographs (one per patient), labels
them with the simulated readers and experts, splits the patients into train / validation / test in
the real data set's proportions (2700 / 760 / 358, stratified by severity class) and writes the
canonical format below under ``$RALIB_DATA/synthra/<name>-<hash>/``. The same config gives the same
bytes; a second call returns the cached folder at once. Generation happens in a temporary folder that
is renamed into place only when complete, so an interrupted run never leaves a cache that a later
run trusts.

Canonical format (all coordinates in pixels of the stored image, x right, y down)::

    config.json        the config and the generator version that made the folder
    images/<id>.png    16-bit grey PNG; values < 2**bits; MONOCHROME1 films are stored inverted
    masks/<id>.png     8-bit foreground mask (hands and forearms) 0 / 255
    radiographs.csv    one row per image: ids, split, file names, size, spacing_mm, bits, photometric,
                       flipped, left_hand_side, marker (its letter) and marker_box ("x0 y0 x1 y1"),
                       text_boxes (burned-in text, "x0 y0 x1 y1" per line, ";" between), age, sex,
                       healthy, latent severity, truth and
                       reader totals, score_avg (the label: mean of the two readers), severity classes,
                       per-hand stage and RA flag, hand boxes, and the 62 true SvdH site grades
                       (RA2-DREAM column names)
    sites.csv          one row per image x SvdH site: true grade and both readers' grades
    joints.csv         one row per image x hand x joint box (21 per hand): box, true erosion / JSN
                       (empty where the box is not scored) and the three experts' grades
    landmarks.csv      one row per image x hand x landmark (37 per hand): x, y
    COMPLETE           written last

Example:
    >>> import tempfile, os
    >>> os.environ["RALIB_DATA"] = tempfile.mkdtemp()
    >>> path = make_dataset(SynthConfig(n_images=3, image_size=128), progress=False, workers=1)
    >>> sorted(p.name for p in path.iterdir())[:3]
    ['COMPLETE', 'config.json', 'images']
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing
import os
import shutil
import socket
import sys
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ralib import anatomy
from ralib.config import REAL_SPLIT, data_dir, get_profile
from ralib.splits import patient_split
from ralib.synth import readers as rd
from ralib.sources import module_sources
from ralib.synth.children import child_radiograph
from ralib.synth.disease import COHORTS
from ralib.synth.world import Sample, box_truth, radiograph

#: ralib modules whose code cannot change what the generator writes: config's values that matter
#: (the split proportions, the sizes of a profile) enter the cache key through the config's fields; the
#: package's ``__init__`` (``"ralib"``) only sets up notebooks; ``ralib.sources`` only lists these files
_NOT_GENERATOR_CODE = ("ralib", "ralib.config", "ralib.sources", "ralib.synth.explorer")


def generator_sources() -> list[Path]:
    """Every file whose content decides what the generator writes: the modules of ``ralib.synth`` and,
    transitively, every ``ralib`` module they import (e.g. the split of ``ralib.splits``), with the
    fitted parameter tables beside them (:func:`ralib.sources.module_sources`)."""
    synth = Path(__file__).resolve().parent
    modules = [f"ralib.synth.{p.stem}" for p in sorted(synth.glob("*.py")) if p.stem != "__init__"]
    return module_sources(modules, exclude=_NOT_GENERATOR_CODE)


def _generator_fingerprint() -> str:
    """A hash of the generator's code and parameters: any change to them invalidates old caches."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for path in generator_sources():
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()[:12]


#: names the generator that made a cache; part of every cache key
GENERATOR_VERSION = f"synthra-{_generator_fingerprint()}"


def _plain_ints(config) -> None:
    """Store NumPy integers (a seed from ``rng.integers``) as Python ints, so the key can be written."""
    for name, value in asdict(config).items():
        if isinstance(value, np.integer):
            object.__setattr__(config, name, int(value))
        elif isinstance(value, tuple):
            object.__setattr__(config, name, tuple(int(v) if isinstance(v, np.integer) else v for v in value))
        elif isinstance(value, np.floating):
            object.__setattr__(config, name, float(value))


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines a SynthRA data set (and so its cache folder)."""

    n_images: int = 24
    image_size: int = 1024
    seed: int = 0
    cohort: str = "image_level"  # who the patients are: a name of ralib.synth.disease.COHORTS
    healthy_fraction: float | None = None  # share of healthy controls; None: the cohort's
    p_flip: float = 0.12
    split: tuple[int, int, int] = REAL_SPLIT

    def __post_init__(self):
        _plain_ints(self)
        if self.cohort not in COHORTS:
            raise ValueError(f"unknown cohort {self.cohort!r}; choose one of {sorted(COHORTS)}")

    @classmethod
    def from_profile(cls, profile: str, **overrides) -> "SynthConfig":
        """The profile's data-set size and image size, e.g. ``SynthConfig.from_profile("cpu")``."""
        sizes = get_profile(profile).data
        return cls(**({"n_images": sizes.n_images, "image_size": sizes.image_size} | overrides))

    def key(self) -> str:
        text = json.dumps(asdict(self) | {"version": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def folder_name(self) -> str:
        return f"n{self.n_images}-px{self.image_size}-seed{self.seed}-{self.key()}"


@dataclass(frozen=True)
class ChildConfig:
    """A data set of children's single left hands labelled with bone age (RSNA-like)."""

    n_images: int = 16
    image_size: int = 256
    seed: int = 0

    def __post_init__(self):
        _plain_ints(self)

    @classmethod
    def from_profile(cls, profile: str, **overrides) -> "ChildConfig":
        sizes = get_profile(profile).data
        return cls(**({"n_images": sizes.n_children, "image_size": sizes.child_image_size} | overrides))

    def key(self) -> str:
        text = json.dumps(asdict(self) | {"version": GENERATOR_VERSION, "kind": "children"}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def folder_name(self) -> str:
        return f"children-n{self.n_images}-px{self.image_size}-seed{self.seed}-{self.key()}"


def image_seed(config: SynthConfig | ChildConfig, index: int, stream: int = 0) -> np.random.SeedSequence:
    """Independent random stream per image (0: the film, 1: its readers)."""
    return np.random.SeedSequence(config.seed, spawn_key=(index, stream))


def make_dataset(
    config: SynthConfig | ChildConfig, root: Path | None = None, progress: bool = True, workers: int | None = None
) -> Path:
    """Render, label and write a SynthRA data set (or return the cached one); returns its folder.

    A :class:`SynthConfig` makes dual-hand radiographs, a :class:`ChildConfig` children's hands.
    Rendering runs in ``workers`` processes (default: one per core, at most 8), which start by
    importing the calling script again: call this from a script under ``if __name__ == "__main__":``
    (or with ``workers=1``). A call made while such a worker process starts fails at once instead of
    waiting for the lock its parent holds.
    """
    _refuse_inside_worker_start()
    root = Path(root or data_dir()) / "synthra"
    root.mkdir(parents=True, exist_ok=True)
    final = root / config.folder_name()
    with open(root / f".{config.folder_name()}.lock", "a+") as lock:
        _acquire(lock, final)  # one writer at a time; others wait (saying so), then find the cache
        if is_complete(final, config):
            return final
        if final.exists():  # a folder without its COMPLETE marker is never trusted
            shutil.rmtree(final)
        for stale in root.glob(f"{config.folder_name()}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root / f"{config.folder_name()}.partial-{uuid.uuid4().hex[:8]}"
        try:
            _write(config, tmp, progress, workers)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


_GUARD_HELP = (
    "SynthRA renders in worker processes, and each worker starts by importing the script that called "
    "make_dataset again. Put the calling code under `if __name__ == \"__main__\":` (see 'Safe importing of "
    "main module' in Python's multiprocessing docs), or pass workers=1."
)


def _refuse_inside_worker_start() -> None:
    """Fail at once when called while a spawned worker imports the parent's script (no main guard)."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(f"make_dataset was called while a worker process was starting. {_GUARD_HELP}")


def _acquire(lock, final: Path) -> None:
    """Take the cache lock; when another process holds it, say who and wait."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        print(f"waiting for {holder}, which is generating {final.name} (the same data set); "
              "this process will use its result", file=sys.stderr, flush=True)  # fmt: skip
        fcntl.flock(lock, fcntl.LOCK_EX)
    lock.seek(0)
    lock.truncate()
    lock.write(f"process {os.getpid()} on {socket.gethostname()}")
    lock.flush()


def is_complete(folder: Path, config: SynthConfig | ChildConfig) -> bool:
    """Whether ``folder`` holds a finished data set made from ``config``."""
    marker = folder / "COMPLETE"
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text()).get("key") == config.key()
    except json.JSONDecodeError:
        return False


def _render_all(render_one, config, folder: Path, progress: bool, workers: int | None, desc: str) -> list[dict]:
    """Run ``render_one`` over every image index, in parallel, in index order, with a progress bar.

    Workers stop by themselves when their parent dies (a killed notebook kernel) or the folder they
    write into disappears, rather than keep writing into a dead partial folder.
    """
    workers = workers or min(os.cpu_count() or 1, 8)
    main_file = getattr(sys.modules["__main__"], "__file__", None)
    if main_file and not Path(main_file).exists():  # e.g. `python - < script`: spawned workers cannot start
        workers = 1
    jobs = [(config, i, str(folder)) for i in range(config.n_images)]
    results: list[dict] = []
    with tqdm(total=config.n_images, desc=desc, unit="img", disable=not progress) as bar:
        if workers == 1:
            for job in jobs:
                results.append(render_one(job))
                bar.update()
            return results
        chunk = max(1, min(16, config.n_images // (4 * workers)))
        # "spawn": forking a process whose OpenCV or BLAS threads hold locks can deadlock the workers
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)) as pool:
            try:
                for out in pool.map(render_one, jobs, chunksize=chunk):
                    results.append(out)
                    bar.update()
            except BrokenProcessPool as exc:
                raise RuntimeError(f"the worker processes rendering {desc} stopped before finishing. {_GUARD_HELP}") from exc
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: do not render the remaining images
                raise
    return results


_PARENT_PID: int | None = None


def _start_worker(parent_pid: int) -> None:
    """In each worker: die with the parent (Linux), and remember it for :func:`_parent_alive`."""
    global _PARENT_PID
    _PARENT_PID = parent_pid
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the per-image check below still applies
    _stop_if_orphaned(None)


def _stop_if_orphaned(folder: Path | None) -> None:
    """Exit a worker whose parent has gone or whose output folder was removed."""
    if _PARENT_PID is not None and os.getppid() != _PARENT_PID:
        os._exit(3)
    if folder is not None and not folder.exists():
        os._exit(3)


def _write(config: SynthConfig | ChildConfig, folder: Path, progress: bool, workers: int | None) -> None:
    (folder / "images").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(asdict(config) | {"version": GENERATOR_VERSION}, indent=2))
    if isinstance(config, ChildConfig):
        rows = _render_all(_render_child, config, folder, progress, workers, "children")
        pd.DataFrame(rows).to_csv(folder / "children.csv", index=False, float_format="%.4f")
    else:
        (folder / "masks").mkdir()
        results = _render_all(_render_one, config, folder, progress, workers, "SynthRA")
        _write_tables(config, folder, results)
    (folder / "COMPLETE").write_text(json.dumps({"key": config.key(), "n_images": config.n_images}))


def _render_child(job: tuple[ChildConfig, int, str]) -> dict:
    config, index, folder = job
    cv2.setNumThreads(1)
    _stop_if_orphaned(Path(folder))
    child = child_radiograph(image_seed(config, index), config.image_size)
    image_id = 10000 + index
    _stop_if_orphaned(Path(folder))
    cv2.imwrite(str(Path(folder) / "images" / f"{image_id}.png"), child.image)
    return {"id": image_id, "boneage": round(child.bone_age_months, 1), "male": child.male,
            "spacing_mm": child.spacing_mm, "file": f"images/{image_id}.png"}  # fmt: skip


def _write_tables(config: SynthConfig, folder: Path, results: list[dict]) -> None:

    images = pd.DataFrame([r["image"] for r in results])
    split = patient_split(images.assign(score=images.score_avg), config.split, seed=config.seed)
    images.insert(2, "split", split)
    images.to_csv(folder / "radiographs.csv", index=False, float_format="%.4f")
    for table in ("sites", "joints", "landmarks"):
        frame = pd.DataFrame([row for r in results for row in r[table]])
        grades = [c for c in frame.columns if c.startswith(("erosion_", "jsn_"))]
        frame[grades] = frame[grades].astype("Int64")  # integers with gaps where a box is not scored
        frame.to_csv(folder / f"{table}.csv", index=False, float_format="%.3f")


def _render_one(job: tuple[SynthConfig, int, str]) -> dict:
    config, index, folder = job
    cv2.setNumThreads(1)
    folder = Path(folder)
    _stop_if_orphaned(folder)
    sample = radiograph(image_seed(config, index), config.image_size, config.healthy_fraction, config.p_flip, config.cohort)
    image_id = f"SYN{index:05d}"
    _stop_if_orphaned(folder)
    cv2.imwrite(str(folder / "images" / f"{image_id}.png"), sample.image)
    cv2.imwrite(str(folder / "masks" / f"{image_id}.png"), sample.mask * 255)
    rng = np.random.default_rng(image_seed(config, index, stream=1))
    return _label_rows(sample, image_id, f"P{index:05d}", rng)


def _label_rows(sample: Sample, image_id: str, patient_id: str, rng: np.random.Generator) -> dict:
    """The rows of all four tables for one rendered radiograph."""
    sites = anatomy.svdh_sites()
    truth = np.array([sample.truth[s.id] for s in sites])
    reads = rd.read_film(truth, rng)
    totals = [int(r.sum()) for r in reads]
    score_avg = float(np.mean(totals))
    is_erosion = np.array([s.kind == "E" for s in sites])
    p = sample.patient
    image = {
        "image_id": image_id,
        "patient_id": patient_id,
        "file": f"images/{image_id}.png",
        "mask_file": f"masks/{image_id}.png",
        "width": sample.image.shape[1],
        "height": sample.image.shape[0],
        "spacing_mm": sample.spacing_mm,
        "bits": sample.bits,
        "photometric": "MONOCHROME1" if sample.inverted else "MONOCHROME2",
        "flipped": sample.flipped,
        "left_hand_side": "image_left" if sample.left_hand_on_image_left else "image_right",
        "marker": sample.marker,
        "age": round(p.age),
        "sex": p.sex,
        "healthy": p.healthy,
        "severity_latent": np.nan if p.theta is None else p.theta,
        "truth_total": int(truth.sum()),
        "truth_erosion": int(truth[is_erosion].sum()),
        "truth_jsn": int(truth[~is_erosion].sum()),
        "reader_1_total": totals[0],
        "reader_2_total": totals[1],
        "score_avg": score_avg,
        "severity_class": int(anatomy.severity_class(score_avg)),
        "severity_class_truth": int(anatomy.severity_class(truth.sum())),
        "artefacts": ";".join(sample.meta["artefacts"]),
        "marker_box": " ".join(map(str, sample.meta["marker_box"])),
        "text_boxes": ";".join(" ".join(map(str, box)) for box in sample.meta["text_boxes"]),
        "osteoarthritis_joints": len(p.oa),
        "deformity": p.deformity,
        "osteopenia": p.osteopenia,
    }
    site_rows, joint_rows, landmark_rows = [], [], []
    for hand in anatomy.HANDS:
        hand_sites = [i for i, s in enumerate(sites) if s.hand == hand]
        erosion = [truth[i] for i in hand_sites if sites[i].kind == "E"]
        jsn = [truth[i] for i in hand_sites if sites[i].kind == "J"]
        stage = anatomy.hand_stage(erosion, jsn)
        image[f"{hand}_stage"] = stage
        image[f"{hand}_ra"] = stage > 0
        for name, value in zip(("x0", "y0", "x1", "y1"), sample.hand_boxes[hand]):
            image[f"{hand}_box_{name}"] = float(value)
        boxes = box_truth(sample.truth, hand)
        experts = {
            kind: {j: [rd.read_joints(v, top, e, rng).item() if v is not None else None for e in panel]
                   for j, v in ((j, boxes[j][kind]) for j in anatomy.JOINT_NAMES)}
            for kind, top, panel in (("erosion", 5, rd.EROSION_EXPERTS), ("jsn", 4, rd.JSN_EXPERTS))
        }  # fmt: skip
        for j, name in enumerate(anatomy.JOINT_NAMES):
            x0, y0, x1, y1 = sample.joint_boxes[hand][j]
            row = {"image_id": image_id, "hand": hand, "joint": name, "x0": x0, "y0": y0, "x1": x1, "y1": y1}
            row |= {"erosion_truth": boxes[name]["erosion"], "jsn_truth": boxes[name]["jsn"]}
            for kind in ("erosion", "jsn"):
                row |= {f"{kind}_expert_{e + 1}": g for e, g in enumerate(experts[kind][name])}
            joint_rows.append(row)
        for name, (x, y) in zip(anatomy.LANDMARKS, sample.landmarks[hand]):
            landmark_rows.append({"image_id": image_id, "hand": hand, "landmark": name, "x": x, "y": y})
    for i, s in enumerate(sites):
        site_rows.append(
            {"image_id": image_id, "hand": s.hand, "site": s.site, "kind": s.kind, "truth": int(truth[i]),
             "reader_1": int(reads[0][i]), "reader_2": int(reads[1][i])}
        )  # fmt: skip
    image |= {s.id: int(truth[i]) for i, s in enumerate(sites)}
    return {"image": image, "sites": site_rows, "joints": joint_rows, "landmarks": landmark_rows}


def load_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """Read the four tables of a SynthRA folder (``radiographs``, ``sites``, ``joints``, ``landmarks``)."""
    folder = Path(folder)
    if not (folder / "COMPLETE").exists():
        raise FileNotFoundError(f"{folder} is not a complete SynthRA data set (no COMPLETE marker)")
    ids = {"image_id": str, "patient_id": str}
    return {name: pd.read_csv(folder / f"{name}.csv", dtype=ids) for name in ("radiographs", "sites", "joints", "landmarks")}


def read_image(folder: Path, row: pd.Series | dict) -> np.ndarray:
    """A stored film as float32 in 0-1 with bone bright (MONOCHROME1 films are inverted back)."""
    raw = cv2.imread(str(Path(folder) / row["file"]), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise FileNotFoundError(f"cannot read {Path(folder) / row['file']}")
    film = raw.astype(np.float32) / (2 ** int(row["bits"]) - 1)
    return 1 - film if row["photometric"] == "MONOCHROME1" else film
