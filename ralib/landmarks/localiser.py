"""The coarse-to-fine localiser: the MIL paper's multiresolution idea with two U-Nets.

The coarse pass sees the whole film letterboxed to a small square and gives 74 heatmaps; the fine pass
cuts a window around each coarse estimate from the film letterboxed at a finer scale and finds the
landmark again there (one channel per landmark name). Both are decoded to sub-pixel positions
(:func:`ralib.landmarks.heatmaps.decode_logits`) and mapped back to film pixels. A hand block whose
coarse presence (its landmarks' mean probability of being on the film) is below one half is reported
absent rather than placed on empty film.

Example:
    >>> loc = Localiser.load("runs/cpu/05_joint_localisation/localiser.pt")   # doctest: +SKIP
    >>> xy, presence = loc.locate(film)                                       # doctest: +SKIP
    >>> xy.shape, presence.shape                                              # doctest: +SKIP
    ((74, 2), (2,))
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ralib.data.arrays import Letterboxed, letterbox
from ralib.geometry import cut, from_crop
from ralib.integrity import seal
from ralib.landmarks.heatmaps import decode_logits
from ralib.landmarks.points import K, LandmarkPredictions, fine_frame
from ralib.models import create_model
from ralib.models.device import running_on
from ralib.models.weight_files import read_weights


@dataclass
class Localiser:
    """Two trained U-Nets and how their inputs are made (sizes and intensity normalisation)."""

    coarse: nn.Module
    fine: nn.Module | None
    coarse_size: int
    fine_size: int
    crop: int
    coarse_norm: tuple[float, float]
    fine_norm: tuple[float, float]
    coarse_options: dict = field(default_factory=dict)  # the landmark_unet builder's arguments, to rebuild
    fine_options: dict = field(default_factory=dict)

    def __post_init__(self):
        # one memory layout however the networks came (trained in channels-last, or loaded from a file): the
        # convolutions' arithmetic, and so the landmarks to the last bit, would otherwise depend on it
        for network in (self.coarse, self.fine):
            if network is not None:
                network.to(memory_format=torch.channels_last)

    @classmethod
    def from_tasks(cls, coarse: nn.Module, fine: nn.Module | None, coarse_task, fine_task, coarse_options: dict,
                   fine_options: dict) -> "Localiser":  # fmt: skip
        """The localiser of two networks trained on a :class:`~ralib.tasks.landmarks.LandmarkTask` and a
        :class:`~ralib.tasks.landmarks.FineLandmarkTask`: their input sizes and normalisation."""
        return cls(coarse.eval(), None if fine is None else fine.eval(), int(coarse_task.boxed.images.shape[-1]),
                   int(fine_task.boxed.images.shape[-1]), fine_task.crop, (coarse_task.pixel_mean, coarse_task.pixel_sd),
                   (fine_task.pixel_mean, fine_task.pixel_sd), dict(coarse_options), dict(fine_options))  # fmt: skip

    @torch.no_grad()
    def coarse_pass(self, images: np.ndarray, batch_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """Square-pixel positions (n, 74, 2) and peaks (n, 74) on letterboxed uint8 films (n, s, s)."""
        self.coarse.eval()
        mean, sd = self.coarse_norm
        xy, peak = [], []
        with running_on(self.coarse) as device:
            for start in range(0, len(images), batch_size):
                x = (torch.from_numpy(np.asarray(images[start : start + batch_size], np.float32)) / 255 - mean) / sd
                p, h = decode_logits(self.coarse(x[:, None].to(device)).cpu())
                xy.append(p.numpy())
                peak.append(h.numpy())
        return np.concatenate(xy), np.concatenate(peak)

    @torch.no_grad()
    def fine_pass(self, image: np.ndarray, xy: np.ndarray, batch_size: int = 74) -> tuple[np.ndarray, np.ndarray]:
        """Refined positions (74, 2) and peaks (74,) of one fine letterboxed uint8 film around ``xy`` (its
        fine-square pixels); NaN estimates stay NaN."""
        self.fine.eval()
        mean, sd = self.fine_norm
        film = np.asarray(image, np.float32) / 255
        channels = np.flatnonzero(np.isfinite(xy).all(-1))
        frames = [fine_frame(xy[c], c, self.crop) for c in channels]
        out, peaks = np.full_like(xy, np.nan, dtype=float), np.full(len(xy), np.nan)
        with running_on(self.fine) as device:
            for start in range(0, len(channels), batch_size):
                chunk = channels[start : start + batch_size]
                crops = np.stack([cut(film, frames[start + j], self.crop) for j in range(len(chunk))])
                p, h = decode_logits(self.fine(torch.from_numpy((crops - mean) / sd)[:, None].to(device)).cpu())
                k = torch.as_tensor(chunk % K)
                p, h = p[torch.arange(len(chunk)), k].numpy(), h[torch.arange(len(chunk)), k].numpy()
                for j, c in enumerate(chunk):
                    out[c] = from_crop(frames[start + j], self.crop, p[j])[0]
                    peaks[c] = h[j]
        return out, peaks

    def locate_boxed(self, coarse: Letterboxed, fine: Letterboxed | None, rows: np.ndarray,
                     progress: bool = True) -> tuple[LandmarkPredictions, LandmarkPredictions | None]:  # fmt: skip
        """Both passes over films ``rows`` of cached letterboxed arrays, in film pixels."""
        from tqdm.auto import tqdm

        sq, peak = self.coarse_pass(coarse.images[rows])
        first = np.stack([coarse.to_film(i, p) for i, p in zip(rows, sq)])
        if self.fine is None or fine is None:
            return LandmarkPredictions(first, peak), None
        refined = np.empty_like(first)
        for n, i in enumerate(tqdm(rows, desc="fine pass", disable=not progress)):
            xy, _ = self.fine_pass(fine.images[i], fine.to_square(i, first[n]))
            refined[n] = fine.to_film(i, xy)
        return LandmarkPredictions(first, peak), LandmarkPredictions(refined, peak)

    def locate(self, film: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks (74, 2, film pixels) and hand presence (2,) of one film (bone bright), both passes."""
        coarse_sq, place = letterbox(film, self.coarse_size)
        boxed = Letterboxed(np.round(coarse_sq * 255).astype(np.uint8)[None], _placement(place))
        fine_sq, fine_place = letterbox(film, self.fine_size) if self.fine is not None else (None, None)
        fine = None if fine_sq is None else Letterboxed(np.round(fine_sq * 255).astype(np.uint8)[None], _placement(fine_place))
        first, second = self.locate_boxed(boxed, fine, np.array([0]), progress=False)
        best = second or first
        return best.xy[0], best.presence[0]

    def fingerprint(self) -> str:
        """A hash of both networks' weights and the input settings: what a crop cache made with this
        localiser depends on."""
        h = hashlib.sha256(repr((self.coarse_size, self.fine_size, self.crop, self.coarse_norm, self.fine_norm)).encode())
        for net in (self.coarse, self.fine):
            for name, tensor in sorted((net.state_dict() if net is not None else {}).items()):
                h.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        """Both networks and the settings in one file, written whole or not at all and sealed with its checksum
        (:func:`ralib.integrity.seal`), so that a file damaged later is named when loaded."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        torch.save({"coarse": self.coarse.state_dict(), "fine": None if self.fine is None else self.fine.state_dict(),
                    "settings": {"coarse_size": self.coarse_size, "fine_size": self.fine_size, "crop": self.crop,
                                 "coarse_norm": list(self.coarse_norm), "fine_norm": list(self.fine_norm),
                                 "coarse_options": _plain(self.coarse_options), "fine_options": _plain(self.fine_options)}}, partial)  # fmt: skip
        partial.replace(path)
        seal(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Localiser":
        saved = read_weights(path)
        s = saved["settings"]
        coarse = create_model("landmark_unet", 2 * K, **s["coarse_options"])
        coarse.load_state_dict(saved["coarse"])
        fine = None
        if saved["fine"] is not None:
            fine = create_model("landmark_unet", K, **s["fine_options"])
            fine.load_state_dict(saved["fine"])
        return cls(coarse.eval(), None if fine is None else fine.eval(), s["coarse_size"], s["fine_size"], s["crop"],
                   tuple(s["coarse_norm"]), tuple(s["fine_norm"]), s["coarse_options"], s["fine_options"])  # fmt: skip


def _plain(options: dict) -> dict:
    """Builder arguments as values ``torch.load(weights_only=True)`` reads back (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


def _placement(place: tuple[float, float, int, int]):
    sx, sy, ox, oy = place
    return pd.DataFrame([{"radiograph_id": "film", "sx": sx, "sy": sy, "ox": ox, "oy": oy}])
