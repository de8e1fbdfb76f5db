"""Pretrained starts: which published weight file a network starts from, and where this machine has it.

Every notebook that trains a network takes ``WEIGHTS``:

- ``"random"``: random weights (the default of the smoke and cpu profiles: nothing to download);
- ``"imagenet"``: the weights the papers start from, fetched by the libraries' own mechanisms: timm's from
  its Hugging Face repositories (kept in the Hugging Face cache; ``HF_HUB_OFFLINE=1`` reads only the cache),
  torchvision's from its weight enums (kept in torch's hub cache, ``$TORCH_HOME/hub/checkpoints``); for
  DeepRA's ResNet-50 RetinaNet, torchvision's COCO detector;
- a folder: the same files saved under the network's name, ``<name>.safetensors`` (or ``.pth``, ``.bin``),
  e.g. ``resnet34.safetensors``, ``alexnet.pth``, ``retinanet_resnet50_fpn_v2.pth``.

Grey inputs: timm sums a first convolution's RGB weights into the one channel (:func:`grey_state` does the
same for torchvision's); a classifier of another size is left out and starts random.

Example:
    >>> timm_file("resnet34")
    PretrainedFile(name='resnet34', dataset='ImageNet', hub='timm/resnet34.a1_in1k', filename='model.safetensors')
    >>> torchvision_file("alexnet").filename
    'alexnet-owt-7be5be79.pth'
    >>> start_spec("random"), start_spec("imagenet")
    ('random', 'imagenet')
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
import timm
import torch
from huggingface_hub import constants as hub_constants
from safetensors.torch import load_file
from timm.models import adapt_input_conv
from torchvision.models import get_model_weights

from ralib.config import WEIGHT_STARTS
from ralib.models.weight_files import read_weights

#: the starts a notebook's ``WEIGHTS`` names besides a folder
STARTS = WEIGHT_STARTS

#: a folder of weights holds ``<name><suffix>`` for one of these suffixes
SUFFIXES = (".safetensors", ".pth", ".bin")


class MissingWeights(FileNotFoundError):
    """Pretrained weights this machine has not got and cannot download; the message says what to fetch and where."""


@dataclass(frozen=True)
class PretrainedFile:
    """One published weight file: network ``name``'s weights trained on ``dataset``, at ``hub`` (a Hugging
    Face repository for timm, a URL for torchvision) as ``filename``."""

    name: str
    dataset: str
    hub: str
    filename: str

    @property
    def on_hugging_face(self) -> bool:
        return not self.hub.startswith(("http://", "https://"))

    def cached(self) -> Path | None:
        """The file in its library's cache, if there."""
        if self.on_hugging_face:
            path = huggingface_hub.try_to_load_from_cache(self.hub, self.filename)
            return Path(path) if isinstance(path, str) else None
        path = Path(torch.hub.get_dir()) / "checkpoints" / self.filename
        return path if path.is_file() else None

    def download(self) -> Path:
        """Fetch the file into its library's cache (an error when offline or unreachable)."""
        if self.on_hugging_face:
            return Path(huggingface_hub.hf_hub_download(self.hub, self.filename))
        path = Path(torch.hub.get_dir()) / "checkpoints" / self.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(self.hub, str(path), progress=False)
        return path

    def in_folder(self, folder: str | Path) -> Path | None:
        """The file saved in ``folder`` under this network's name (:data:`SUFFIXES`), if there."""
        return next((p for s in SUFFIXES if (p := Path(folder) / f"{self.name}{s}").is_file()), None)

    def how_to_get(self) -> str:
        """Where to download it and where to put it, for a message."""
        if self.on_hugging_face:
            source = f"https://huggingface.co/{self.hub} ({self.filename}; `hf download {self.hub} {self.filename}` fills the Hugging Face cache)"
        else:
            source = f"{self.hub} (into {Path(torch.hub.get_dir()) / 'checkpoints'})"
        return f"{self.name} ({self.dataset}): {source}, or saved as {self.name}{SUFFIXES[0]} / {self.name}.pth in a folder given as WEIGHTS"


def timm_file(name: str) -> PretrainedFile:
    """The weights timm loads for ``name`` with ``pretrained=True`` (its default tag's Hugging Face repository)."""
    config = timm.models.get_pretrained_cfg(name)
    if config is None or not config.hf_hub_id:
        raise ValueError(f"timm publishes no pretrained weights for {name!r}: use WEIGHTS='random' for it")
    dataset = "ImageNet-22k" if "in22k" in config.hf_hub_id else "ImageNet"
    return PretrainedFile(name, dataset, config.hf_hub_id, config.hf_hub_filename or "model.safetensors")


def torchvision_file(name: str, weights: str = "DEFAULT") -> PretrainedFile:
    """The weights of torchvision's model ``name`` named ``weights`` in its enum (``DEFAULT``: the best ImageNet
    or COCO ones), e.g. ``torchvision_file("retinanet_resnet50_fpn_v2")``: COCO."""
    enum = get_model_weights(name)[weights]
    dataset = "COCO" if "COCO" in enum.name else "ImageNet"
    return PretrainedFile(name, dataset, enum.url, enum.url.rsplit("/", 1)[-1])


def timm_files(option: str, default: str) -> Callable[..., tuple[PretrainedFile, ...]]:
    """A model card's ``pretrained_files`` for a model of one timm network, named by its builder's ``option``.

    Example:
        >>> [f.hub for f in timm_files("encoder", "resnet18")(encoder="resnet34")]
        ['timm/resnet34.a1_in1k']
    """
    return lambda **options: (timm_file(options.get(option, default)),)


def start_spec(weights: str | Path) -> str:
    """``weights`` checked: ``"random"``, ``"imagenet"`` or a folder that exists (as a string).

    Example:
        >>> start_spec("imagenet22k")
        Traceback (most recent call last):
        ...
        ValueError: WEIGHTS='imagenet22k' is neither random, imagenet nor a folder
    """
    if str(weights) in STARTS:
        return str(weights)
    if Path(weights).is_dir():
        return str(weights)
    raise ValueError(f"WEIGHTS={str(weights)!r} is neither {', '.join(STARTS)} nor a folder")


def offline() -> bool:
    """Whether the hubs are not to be asked (``HF_HUB_OFFLINE`` set now or when huggingface_hub was imported)."""
    return hub_constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def locate(files: Iterable[PretrainedFile], weights: str) -> dict[PretrainedFile, Path]:
    """Where each of ``files`` is for the start ``weights`` (``"imagenet"``: the caches, downloaded unless
    offline; a folder: in it). All missing files are named in one :class:`MissingWeights`."""
    found, missing = {}, []
    for file in dict.fromkeys(files):
        path = file.in_folder(weights) if weights not in STARTS else file.cached()
        if path is None and weights == "imagenet" and not offline():
            try:
                path = file.download()
            except Exception as error:  # no network: the message below says what to fetch
                missing.append(f"{file.how_to_get()}\n    (download failed: {type(error).__name__})")
                continue
        if path is None:
            missing.append(file.how_to_get())
        else:
            found[file] = path
    if missing:
        where = "in the caches and offline (HF_HUB_OFFLINE)" if weights == "imagenet" else f"in the folder {weights}"
        raise MissingWeights(f"WEIGHTS={weights!r}: {len(missing)} pretrained file(s) not found {where}; fetch them on a "
                             "machine with a network, or run with WEIGHTS='random':\n  - " + "\n  - ".join(missing))  # fmt: skip
    return found


def timm_options(name: str, weights: str = "random") -> dict:
    """Keyword arguments of ``timm.create_model(name, ...)`` for the start ``weights``: ``pretrained`` and, for
    a file found here, ``pretrained_cfg_overlay`` pointing timm at it.

    Example:
        >>> timm_options("resnet34")
        {'pretrained': False}
    """
    if weights == "random":
        return {"pretrained": False}
    file = timm_file(name)
    return {"pretrained": True, "pretrained_cfg_overlay": {"file": str(locate([file], weights)[file])}}


def smp_encoder_options(encoder: str, weights: str = "random") -> dict:
    """Keyword arguments of a segmentation_models_pytorch model with the timm encoder ``tu-<encoder>`` for the
    start ``weights`` (smp passes ``pretrained_cfg_overlay`` on to timm).

    Example:
        >>> smp_encoder_options("resnet18")
        {'encoder_weights': None}
    """
    options = timm_options(encoder, weights)
    return {"encoder_weights": True if options.pop("pretrained") else None, **options}


def torchvision_state(file: PretrainedFile, weights: str) -> dict[str, torch.Tensor]:
    """The state dict of a torchvision weight file for the start ``weights`` (``"imagenet"`` or a folder)."""
    path = locate([file], weights)[file]
    if path.suffix == ".safetensors":
        return load_file(path)
    state = read_weights(path)
    return state.get("state_dict", state)


def grey_state(state: dict[str, torch.Tensor], first_conv: str) -> dict[str, torch.Tensor]:
    """``state`` with the RGB weights of ``first_conv`` (a convolution's weight name) summed for one channel, as
    timm adapts its models (``timm.models.adapt_input_conv``).

    Example:
        >>> grey_state({"conv1.weight": torch.ones(8, 3, 7, 7)}, "conv1.weight")["conv1.weight"].shape
        torch.Size([8, 1, 7, 7])
    """
    return {**state, first_conv: adapt_input_conv(1, state[first_conv])}


def start_record(files: Iterable[PretrainedFile], weights: str) -> str:
    """What identifies a start in a run's fingerprint: its name for random and the hubs (whose files timm's and
    torchvision's tags fix), the files' contents for a folder (whose files a user may replace).

    Example:
        >>> start_record([timm_file("resnet34")], "imagenet")
        'imagenet'
    """
    if weights in STARTS:
        return weights
    digests = {f.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for f, p in locate(files, weights).items()}
    return repr(sorted(digests.items()))
