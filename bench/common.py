"""Shared by the trainer benchmarks: the modes compared, the reference step they are compared with,
interleaved timing, the machine's description, and the JSON + markdown report."""
from __future__ import annotations

import copy
import datetime
import json
import os
import platform
import time
from pathlib import Path
from statistics import median  # noqa: F401 (the scripts' summary statistic)
from typing import Callable

import torch
import torch.nn.functional as F

from trainer.models import build
from trainer.pool import ImagePool
from trainer.step import Step, optimizers
from trainer.cpus import available_cpus
from trainer.train import pick_precision

FULL = {"ngf": 64, "ndf": 64, "n_blocks": 9, "n_layers_d": 3}  # the reference's networks

# name -> (AMP, channels_last, torch.compile); "baseline" is ReferenceStep, every other mode the trainer's Step.
MODES = {
    "baseline": (False, False, False),
    "fp32": (False, False, False),
    "amp": (True, False, False),
    "amp+cl": (True, True, False),
    "amp+cl+compile": (True, True, True),
}
LR, BETA1, LAMBDA_CYCLE, LAMBDA_IDENTITY, POOL = 2e-4, 0.5, 10.0, 0.5, 50  # the reference's defaults


class ReferenceStep:
    """The reference's optimize_parameters (models/cycle_gan_model.py) as it runs there: fp32, eager, four
    separate networks; forward; G step with both D frozen; then backward_D_A and backward_D_B (pooled fakes,
    each loss x 0.5, one backward each) and one D step. The pool is trainer.pool.ImagePool, the reference's
    algorithm with its own seeded RNG, so this step and the trainer's can be compared number for number."""

    def __init__(self, nets: dict, opt_G, opt_D, pools: dict, lambda_cycle=LAMBDA_CYCLE, lambda_identity=LAMBDA_IDENTITY):
        self.nets, self.opt_G, self.opt_D, self.pools = nets, opt_G, opt_D, pools
        self.lam, self.lam_idt = lambda_cycle, lambda_identity

    @staticmethod
    def gan(pred, real: bool):  # GANLoss('lsgan'): MSE against a target of the prediction's shape
        return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))

    def backward_D_basic(self, netD, real, fake):
        loss = (self.gan(netD(real), True) + self.gan(netD(fake.detach()), False)) * 0.5
        loss.backward()
        return loss

    def __call__(self, real_A, real_B):
        G_A, G_B, D_A, D_B = (self.nets[k] for k in ("G_A", "G_B", "D_A", "D_B"))
        lam, lam_idt = self.lam, self.lam_idt
        fake_B = G_A(real_A)
        rec_A = G_B(fake_B)
        fake_A = G_B(real_B)
        rec_B = G_A(fake_A)
        for p in [*D_A.parameters(), *D_B.parameters()]:
            p.requires_grad = False
        self.opt_G.zero_grad()
        loss_idt_A = F.l1_loss(G_A(real_B), real_B) * lam * lam_idt
        loss_idt_B = F.l1_loss(G_B(real_A), real_A) * lam * lam_idt
        loss_G_A = self.gan(D_A(fake_B), True)
        loss_G_B = self.gan(D_B(fake_A), True)
        loss_cycle_A = F.l1_loss(rec_A, real_A) * lam
        loss_cycle_B = F.l1_loss(rec_B, real_B) * lam
        (loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B).backward()
        self.opt_G.step()
        for p in [*D_A.parameters(), *D_B.parameters()]:
            p.requires_grad = True
        self.opt_D.zero_grad()
        loss_D_A = self.backward_D_basic(D_A, real_B, self.pools["B"].query(fake_B))
        loss_D_B = self.backward_D_basic(D_B, real_A, self.pools["A"].query(fake_A))
        self.opt_D.step()
        return torch.stack([loss_D_A, loss_G_A, loss_cycle_A, loss_idt_A,
                            loss_D_B, loss_G_B, loss_cycle_B, loss_idt_B]).detach()


def amp_dtype(device: torch.device):
    """The trainer's choice on a GPU (bf16 where supported, else fp16); bf16 autocast on a CPU."""
    return torch.float16 if pick_precision("auto", device) == "fp16" else torch.bfloat16


def make_step(mode: str, model: dict, device: torch.device, seed: int = 0, nets: dict | None = None, ddp: bool = False,
              pool: int = POOL):
    """(step, nets) for one mode; the same seed gives every mode the same initial weights. ddp: the trainer's
    DistributedDataParallel wrapping (a process group must be up; not for the baseline)."""
    amp, cl, compile_ = MODES[mode]
    if nets is None:
        torch.manual_seed(seed)
        nets = build(model)
    nets = copy.deepcopy(nets)
    for net in nets.values():
        net.to(device, memory_format=torch.channels_last if cl else torch.contiguous_format)
    opt_G, opt_D = optimizers(nets, LR, BETA1)
    pools = {d: ImagePool(pool, seed=f"{seed}/{d}") for d in "AB"}
    if mode == "baseline":
        return ReferenceStep(nets, opt_G, opt_D, pools), nets
    dtype = amp_dtype(device) if amp else None
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    return Step(nets, opt_G, opt_D, pools, scaler, lambda_cycle=LAMBDA_CYCLE, lambda_identity=LAMBDA_IDENTITY,
                amp_dtype=dtype, compile=compile_, ddp=ddp,
                device_ids=[device.index] if ddp and device.type == "cuda" else None), nets


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(runs: dict[str, Callable[[], None]], repeats: int, sync: Callable[[], None] = lambda: None) -> dict[str, list[float]]:
    """Seconds of each run over `repeats` rounds; every round runs each once, starting one later each round,
    so a change in the machine's load hits every run alike and no run always goes first."""
    names, times = list(runs), {name: [] for name in runs}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            sync()
            start = time.perf_counter()
            runs[name]()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict:
    """What a figure depends on: date, CPU, CPUs granted, GPU, library versions, the machine's load."""
    import numpy
    import PIL

    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu_model(), "cpus": available_cpus(), "torch": torch.__version__, "numpy": numpy.__version__,
            "pillow": PIL.__version__, "python": platform.python_version(), "threads": torch.get_num_threads()}
    info["load_average"] = round(os.getloadavg()[0], 1)
    if device.type == "cuda":
        info |= {"gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda,
                 "cudnn": torch.backends.cudnn.version()}
    return info


def describe(info: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in info.items())


def markdown_table(rows: list[dict]) -> str:
    keys = list(rows[0])
    fmt = lambda v: (f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}") if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    return "\n".join(lines + ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in rows])


def report(name: str, info: dict, rows: list[dict], out: Path | None, notes: list[str] = ()) -> None:
    """Print the table; with `out`, also write out/NAME.json and out/NAME.md."""
    text = "\n".join([f"## {name}", "", describe(info), "", markdown_table(rows), "", *notes])
    print(text, flush=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps({"machine": info, "rows": rows, "notes": list(notes)}, indent=1))
        (out / f"{name}.md").write_text(text + "\n")
