"""Where the training time goes: for every network a profile trains (model, input size, batch), the samples
per second of a forward + backward + optimiser step on this machine, the FLOPs of that step (three times
the forward pass's, counted by ``torch.utils.flop_counter``) and the share of the machine's own fp32 matmul rate (measured first, same
threads) they reach; and, given ``--runs``, what the real runs of that folder measured while training
(``Fitted.throughput``: samples per second and the share of each step spent waiting for data).

    .venv/bin/python benchmarks/train_throughput.py --profile cpu                        # the synthetic steps
    .venv/bin/python benchmarks/train_throughput.py --profile cpu --variants plain channels_last bf16
    .venv/bin/python benchmarks/train_throughput.py --profile cpu --runs runs/cpu --skip-steps  # the real runs

The synthetic steps use random inputs of each run's shape (no data loading), so they bound what training
can reach; the real runs' data share says how far a run falls below that for want of batches. Run it alone:
two torch processes on two cores slow each other about tenfold.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from ralib.config import Profile, get_profile
from ralib.models import create_model

N_LANDMARK_CHANNELS = 74  # the coarse pass: 37 landmarks x 2 hands
N_JOINT_OUTPUTS = 11  # RheumaVIT's 6 erosion + 5 JSN logits
#: fp32 NCHW; NHWC; bfloat16 autocast; both; and with torch.compile (inductor) over the model, its compile time reported
VARIANTS = ("plain", "channels_last", "bf16", "bf16+channels_last", "channels_last+compile", "bf16+channels_last+compile")


@dataclass(frozen=True)
class Case:
    """One training of a profile: ``notebook``, a name, how to build the model and one batch of inputs."""

    notebook: str
    name: str
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[], tuple]
    batch: int
    image_size: int | None  # pixels of a square input (None: feature bags)


def _image(batch: int, size: int) -> Callable[[], tuple]:
    return lambda: (torch.randn(batch, 1, size, size),)


def cases(p: Profile) -> list[Case]:
    """Every distinct network ``p`` trains, with its input shape and batch."""
    t, lm, mil, sc, dr = p.train, p.landmarks, p.mil, p.scorer, p.deepra
    out = [Case("03", f"{m} whole film", lambda m=m: create_model(m, 1), _image(b, t.image_size), b, t.image_size)
           for m, _, b in dict.fromkeys(t.regression)]  # fmt: skip
    out = list({c.name: c for c in out}.values())
    out += [Case("03", f"{m} per hand", lambda m=m: create_model(m, 2), _image(t.hand_batch_size, t.hand_size), t.hand_batch_size,
                 t.hand_size) for m in t.hand_models]  # fmt: skip
    unet = {"encoder": lm.encoder}
    out += [Case("05", "landmark U-Net, coarse pass", lambda: create_model("landmark_unet", N_LANDMARK_CHANNELS, **unet),
                 _image(lm.batch_size, lm.coarse_size), lm.batch_size, lm.coarse_size),
            Case("05", "landmark U-Net, fine pass", lambda: create_model("landmark_unet", N_LANDMARK_CHANNELS // 2, **unet),
                 _image(lm.fine_batch_size, lm.fine_crop), lm.fine_batch_size, lm.fine_crop),
            Case("06", "foreground U-Net", lambda: create_model("landmark_unet", 1), _image(8, mil.segmentation_size), 8,
                 mil.segmentation_size)]  # fmt: skip
    out += [Case("06/07", f"{m} patch classifier", lambda m=m: create_model(m, 3), _image(mil.patch_batch_size, mil.patch_size),
                 mil.patch_batch_size, mil.patch_size) for m in mil.patch_models]  # fmt: skip
    k = max(mil.tile_k)
    out += [Case("06/07", f"attention MIL, {k} x 1280 features", lambda: create_model("attention_mil", 1, in_dim=1280),
                 lambda: (torch.randn(mil.mil_batch_size, k, 1280), torch.ones(mil.mil_batch_size, k)), mil.mil_batch_size, None)]  # fmt: skip
    out += [Case("08", f"box regressor {sc.box_backbone}", lambda: create_model("box_regressor", 84, backbone=sc.box_backbone),
                 _image(sc.box_batch_size, sc.box_image_size), sc.box_batch_size, sc.box_image_size)]  # fmt: skip
    out += [Case("08", f"joint scorer {b}", lambda b=b: create_model("idx_pool_scorer", N_JOINT_OUTPUTS, backbone=b, input_size=sc.input_size),
                 _image(sc.batch_size, sc.input_size), sc.batch_size, sc.input_size) for b in dict.fromkeys(sc.backbones + sc.separate)]  # fmt: skip
    out += [Case("08", f"denoising U-Net {b}", lambda b=b: create_model("denoising_unet", 1, backbone=b), _image(sc.batch_size, sc.input_size),
                 sc.batch_size, sc.input_size) for b in sc.pretrained]  # fmt: skip
    boxes = lambda: torch.tensor([[8.0, 8.0, 40.0, 40.0]]).repeat(dr.detector_batch_size, 6, 1) * dr.detector_size / 64  # noqa: E731
    detector = dict(backbone=dr.detector_backbone, image_size=dr.detector_size, fpn_channels=dr.detector_fpn)
    out += [Case("09", f"RetinaNet {dr.detector_backbone}", lambda: create_model("region_detector", 6, **detector),
                 lambda: (torch.rand(dr.detector_batch_size, 1, dr.detector_size, dr.detector_size), boxes()),
                 dr.detector_batch_size, dr.detector_size)]  # fmt: skip
    for region, backbone, size in (("finger", dr.finger_backbone, dr.finger_size), ("wrist", dr.wrist_backbone, dr.wrist_size)):
        out += [Case("09", f"gated {backbone}, {region}", lambda b=backbone: create_model("attention_gated", 4, backbone=b),
                     _image(dr.batch_size, size), dr.batch_size, size)]  # fmt: skip
    return out


def matmul_rate(n: int = 1024, repeats: int = 20) -> float:
    """The machine's fp32 matrix-multiply rate, GFLOP/s (median of ``repeats`` ``n x n`` products)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * n**3 / statistics.median(times) / 1e9


def _loss(output) -> torch.Tensor:
    return output if output.dim() == 0 else output.float().pow(2).mean()  # the detector returns its own loss


def measure(case: Case, steps: int, variant: str = "plain") -> dict:
    """Median seconds of one training step of ``case`` (after one warm-up step), its FLOPs and samples/s."""
    torch.manual_seed(0)
    model = case.build().train()
    inputs = case.inputs()
    if "channels_last" in variant and case.image_size:
        model = model.to(memory_format=torch.channels_last)
        inputs = tuple(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in inputs)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if "bf16" in variant else nullcontext()
    optimiser = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4)
    counted = model
    if "compile" in variant:
        model = torch.compile(model)

    def step():
        optimiser.zero_grad()
        with autocast:
            loss = _loss(model(*inputs))
        loss.backward()
        optimiser.step()

    counter = FlopCounterMode(display=False)
    with counter, autocast:
        _loss(counted(*inputs))  # the forward pass, counted
    started = time.perf_counter()
    step()  # the warm-up step (and the compilation)
    warmup = time.perf_counter() - started
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    # a backward pass costs twice the forward (torch's counter overcounts grouped convolutions' backward ~20x)
    return {"seconds": seconds, "samples_per_second": case.batch / seconds, "gflop": 3 * counter.get_total_flops() / 1e9,
            "warmup_seconds": warmup}


def run_records(folder: Path) -> list[dict]:
    """The throughput every checkpoint under ``folder`` recorded while it trained (:class:`ralib.train.fit.StepTimer`)."""
    from ralib.train.fit import checkpoint_record

    rows = []
    for path in sorted(folder.glob("*/checkpoints/*.pt")):
        record = checkpoint_record(path)
        t = record.get("throughput") or {}
        if t.get("samples_per_second"):
            rows.append({"notebook": path.parent.parent.name[:2], "run": path.stem, **t})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per network, after one warm-up step")
    parser.add_argument("--variants", nargs="+", default=["plain"], choices=VARIANTS)
    parser.add_argument("--only", nargs="*", default=None, help="networks whose name contains one of these words")
    parser.add_argument("--runs", type=Path, default=None, help="a run folder (runs/cpu) whose checkpoints' throughput to list")
    parser.add_argument("--skip-steps", action="store_true", help="only list the real runs' throughput")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, interop {torch.get_num_interop_threads()}")
    if not args.skip_steps:
        rate = matmul_rate()
        print(f"fp32 matmul, 1024 x 1024: {rate:.1f} GFLOP/s\n")
        head = "| notebook | network | batch | input, px | GFLOP per step |"
        head += "".join(f" {v}: samples/s | {v}: share of matmul rate |" for v in args.variants)
        print(head + "\n|" + "---|" * (5 + 2 * len(args.variants)), flush=True)
        for case in cases(get_profile(args.profile)):
            if args.only and not any(word in case.name for word in args.only):
                continue
            cells = []
            for variant in args.variants:
                m = measure(case, args.steps, variant)
                gflop = cells[0][0] if cells else m["gflop"]  # counted once, on the first variant
                compiled = f" (compiling {m['warmup_seconds']:.0f} s)" if "compile" in variant else ""
                cells.append((gflop, f" {m['samples_per_second']:.1f}{compiled} | {gflop / m['seconds'] / rate:.0%} |"))
            print(f"| {case.notebook} | {case.name} | {case.batch} | {case.image_size or '-'} | {cells[0][0]:.2f} |"
                  + "".join(c for _, c in cells), flush=True)  # fmt: skip
    if args.runs:
        print("\n| notebook | run | samples/s | waiting for data | training, s |\n|---|---|---|---|---|")
        for r in run_records(args.runs):
            print(f"| {r['notebook']} | {r['run']} | {r['samples_per_second']:.1f} | {r['data_share']:.0%} | {r['training_seconds']:.0f} |")


if __name__ == "__main__":
    main()
