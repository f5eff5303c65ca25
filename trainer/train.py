"""CycleGAN training: one process or many under torchrun (DDP), resumable after preemption.

    python -m trainer.train --config train.yaml --root /data [--set train.lr=0.0001 ...]
    torchrun --nproc-per-node=gpu -m trainer.train --config /etc/nautilus/train.yaml --root /data

Reference parity (junyanz/pytorch-CycleGAN-and-pix2pix): the update is trainer.step's (LSGAN losses, cycle and
identity weights, D loss halved, image pools, Adam(lr, (beta1, 0.999))); learning rate constant for `epochs`
epochs then linear decay: epoch k (1-based) runs at lr x (1 - max(0, k - epochs) / (epochs_decay + 1)), i.e.
the variant that steps the scheduler after each epoch (never reaching zero), not the 2020-2023 one that steps
before every epoch.

Global batch = train.batch_size x world size. Every sample is normalised by itself (InstanceNorm) and DDP
averages gradients, so N GPUs at batch b train exactly like one process at batch N x b. The learning
rate is used as given: the reference's lr 2e-4 is tuned for batch 1; at larger global batches keep it
(safe, slower per epoch) or scale it up roughly linearly with the global batch (faster, watch for GAN
instability).
"""
import hashlib
import math
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch.utils.data import DataLoader

from . import atomic, checkpoint as ckpt, cli, errors, finite, volume
from .config import dump as dump_config, load as load_config
from .errors import UsageError
from .cpus import available_cpus
from .data import ShardSampler, Unaligned, center_sample, open_splits, steps_per_epoch
from .models import build, unfit_crop
from .pool import ImagePool
from .step import LOSS_NAMES, Step, optimizers
from .usage import Monitor

# --- machine ---------------------------------------------------------------------------------------------

def pick_precision(choice: str, device: torch.device) -> str:
    if choice != "auto":
        return choice
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def setup_distributed():
    """(rank, world, local_rank, device, control group); env rendezvous as torchrun sets it up."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world == 1:
        return 0, 1, 0, device, None
    dist.init_process_group("nccl" if cuda else "gloo")
    # Small per-step flags and checkpoint gathers go over gloo on the CPU: no GPU sync for a stop flag.
    ctrl = dist.new_group(backend="gloo") if cuda else dist.group.WORLD
    return rank, world, local, device, ctrl


_stop_signal: list[int] = []


def _on_signal(signum, frame):
    _stop_signal.append(signum)


# --- checkpoint state --------------------------------------------------------------------------------------

def rng_state(device) -> dict:
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "numpy": (kind, torch.from_numpy(key.astype(np.int64)), pos, has_gauss, gauss),
            "python": random.getstate()}


def set_rng_state(state: dict, device) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])


def fingerprint(states: dict) -> str:
    """sha256 over every parameter's bytes: ranks compare it at each checkpoint (DDP must keep them equal)."""
    h = hashlib.sha256()
    for name in ("G_A", "G_B", "D_A", "D_B"):
        for k, v in states[name].items():
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save_image(path: Path, array: np.ndarray) -> None:
    atomic.write(path, lambda f: Image.fromarray(array).save(f, format="PNG"))


@torch.no_grad()
def sample_grid(G_A, G_B, a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Rows: real A, fake B, rec A / real B, fake A, rec B; HxWx3 uint8."""
    fake_B, fake_A = G_A(a), G_B(b)
    rows = [torch.cat([a, fake_B, G_B(fake_B)], -1), torch.cat([b, fake_A, G_A(fake_A)], -1)]
    grid = torch.cat(rows, -2)[0].float().clamp(-1, 1).add(1).mul(127.5).round().byte()
    return grid.permute(1, 2, 0).cpu().numpy()


def on_main(fn, main_rank: bool, world: int, group) -> None:
    """Run fn on rank 0 only (a write) and end every rank alike when it fails: rank 0 raises its error, the
    others exit with the same code instead of waiting for rank 0 in the next collective."""
    failed = None
    if main_rank:
        try:
            fn()
        except Exception as e:
            failed = e
    code = [None if failed is None else errors.USAGE if isinstance(failed, UsageError) else errors.UNEXPECTED]
    if world > 1:
        dist.broadcast_object_list(code, src=0, group=group)
    if failed is not None:
        raise failed
    if code[0]:
        raise SystemExit(code[0])


def fmt_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


# --- training --------------------------------------------------------------------------------------------

def train(cfg: dict, root: Path) -> int:
    t, m, log_cfg = cfg["train"], cfg["model"], cfg["log"]
    rank, world, local_rank, device, ctrl = setup_distributed()
    main_rank = rank == 0
    say = (lambda msg: print(msg, flush=True)) if main_rank else (lambda msg: None)
    warn = (lambda msg: print(msg, file=sys.stderr, flush=True)) if main_rank else (lambda msg: None)

    if t["deterministic"]:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # warn_only: some CUDA backward kernels (reflection padding) have no deterministic variant.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    else:
        torch.backends.cudnn.benchmark = True  # fixed crop size: autotuning pays off after the first step
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    cpus = available_cpus()
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, int(cpus // local_world)))
    workers = t["workers"] if isinstance(t["workers"], int) else max(0, min(8, int(cpus // local_world) - 1))
    precision = pick_precision(t["precision"], device)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    # channels_last only on GPUs: on CPU (torch 2.9.1) instance_norm's backward returns wrong input
    # gradients for a channels_last batch of 1 (measured: |error| ~ 4 on unit-variance data).
    channels_last = t["channels_last"] and device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    run_dir = volume.writable_folder(root, "--root") / "runs" / cfg["run"]
    splits = open_splits(cfg, Path(root), ("trainA", "trainB", "testA", "testB"))
    b, seed = t["batch_size"], t["seed"]
    dataset = Unaligned(splits["trainA"], splits["trainB"], t["crop_size"], t["flip"], seed)
    n = len(dataset)
    if b * world > n:  # the loader would silently train on smaller batches than the config says
        raise UsageError(f"global batch {b * world} (train.batch_size {b} x {world} processes) is more than the {n} "
                         f"images of an epoch", f"set train.batch_size to at most {max(1, n // world)}")
    spe = steps_per_epoch(n, world, b)
    total_epochs = t["epochs"] + t["epochs_decay"]
    total_steps = spe * total_epochs if t["max_steps"] is None else min(spe * total_epochs, t["max_steps"])

    if why := unfit_crop(m, t["crop_size"]):
        raise UsageError(f"train.crop_size {t['crop_size']} does not fit the model: {why}",
                         "use a train.crop_size such as 256 (or lower model.n_layers_d)")
    torch.manual_seed(seed)
    nets = build(m)
    for net in nets.values():
        net.to(device, memory_format=memory_format)
    opt_G, opt_D = optimizers(nets, t["lr"], t["beta1"])

    def lr_factor(e):  # e = epochs completed (0-based index of the running epoch)
        return 1.0 - max(0, e + 1 - t["epochs"]) / (t["epochs_decay"] + 1)

    sched_G = torch.optim.lr_scheduler.LambdaLR(opt_G, lr_factor)
    sched_D = torch.optim.lr_scheduler.LambdaLR(opt_D, lr_factor)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    pools = {d: ImagePool(t["pool_size"], seed=f"{seed}/{rank}/{d}") for d in "AB"}
    epoch, seen, step = 0, 0, 0

    # Resume: rank 0 picks the newest readable checkpoint, the others load the same file.
    state, choice = None, [None, None]  # [path, error]
    if main_rank:
        try:
            state, path = ckpt.load_latest(run_dir / "checkpoints")
            choice[0] = str(path) if path else None
        except UsageError as e:
            choice[1] = str(e)
    if world > 1:
        dist.broadcast_object_list(choice, src=0, group=ctrl)
        if not main_rank and choice[0]:
            state = ckpt.read(Path(choice[0]))
    if choice[1]:
        raise UsageError(choice[1])
    kept = choice[0]  # the last good checkpoint: named when the run stops on an error
    if state is not None:
        if state["config"]["model"] != m:
            raise UsageError(f"run {cfg['run']!r} was trained with model {state['config']['model']}, "
                             f"the config asks for {m}",
                             "restore the model section or start a new run with another `run` name")
        try:  # ckpt.read checked the structure; this catches what only loading can tell (e.g. its precision)
            for name, net in nets.items():
                net.load_state_dict(state["nets"][name])
            opt_G.load_state_dict(state["opt_G"])
            opt_D.load_state_dict(state["opt_D"])
            sched_G.load_state_dict(state["sched_G"])
            sched_D.load_state_dict(state["sched_D"])
            scaler.load_state_dict(state["scaler"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"checkpoint {kept} does not fit this run ({e.__class__.__name__}: "
                             f"{str(e).strip().splitlines()[0][:160]})",
                             "move it out of the checkpoints folder to resume from the previous one") from None
        epoch, seen, step = state["epoch"], state["seen"], state["step"]
        if len(state["ranks"]) == world:
            mine = state["ranks"][rank]
            for d in "AB":
                pools[d].load_state_dict(mine["pools"][d], device)
            set_rng_state(mine["rng"], device)
        else:
            warn(f"warning: checkpoint was written by {len(state['ranks'])} processes, now {world}: "
                 f"image pools and RNG states start fresh")
        say(f"resumed from {choice[0]} at epoch {epoch + 1} step {step}")
        del state

    if epoch >= total_epochs or step >= total_steps:
        say(f"run {cfg['run']} is already complete (step {step} of {total_steps}); nothing to do")
        return 0

    on_main(lambda: atomic.write_text(run_dir / "config.yaml", dump_config(cfg)), main_rank, world, ctrl)
    update = Step(nets, opt_G, opt_D, pools, scaler, lambda_cycle=t["lambda_cycle"], lambda_identity=t["lambda_identity"],
                  amp_dtype=amp_dtype, compile=t["compile"], ddp=world > 1,
                  device_ids=[local_rank] if device.type == "cuda" else None)

    sample_A = center_sample(splits.get("testA", splits["trainA"])[0], t["crop_size"]).unsqueeze(0).to(device)
    sample_B = center_sample(splits.get("testB", splits["trainB"])[0], t["crop_size"]).unsqueeze(0).to(device)
    writer = None
    if main_rank:
        from torch.utils.tensorboard import SummaryWriter  # slow import; rank 0 only
        writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=step or None)

    settings = (f"train.lr (now {t['lr']:g}) or the loss weights train.lambda_cycle ({t['lambda_cycle']:g}) "
                f"and train.lambda_identity ({t['lambda_identity']:g})" + (", or set train.precision fp32" if amp_dtype else ""))

    def guard() -> None:
        """Stop before anything is logged or saved from NaN/inf losses or weights (all ranks at once)."""
        try:
            finite.check(win_loss, nets, step=step, kept=kept, settings=settings, world=world, group=ctrl)
        except finite.Diverged:
            if main_rank:
                raise
            raise SystemExit(errors.USAGE) from None  # rank 0 says it, once

    def save_checkpoint(reason: str) -> None:
        guard()
        mine = {"pools": {d: pools[d].state_dict() for d in "AB"}, "rng": rng_state(device),
                "fingerprint": fingerprint({k: net.state_dict() for k, net in nets.items()})}
        ranks = [mine]
        if world > 1:
            ranks = [None] * world if main_rank else None
            dist.gather_object(mine, ranks, dst=0, group=ctrl)
        on_main(lambda: write_checkpoint(ranks, reason), main_rank, world, ctrl)

    def write_checkpoint(ranks: list, reason: str) -> None:
        nonlocal kept
        if len({r["fingerprint"] for r in ranks}) != 1:
            raise RuntimeError(f"parameters differ across ranks at step {step}: DDP replicas diverged")
        state = {"version": 1, "config": cfg, "epoch": epoch, "seen": seen, "step": step, "world": world,
                 "nets": {k: {n_: v.cpu() for n_, v in net.state_dict().items()} for k, net in nets.items()},
                 "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(),
                 "sched_G": sched_G.state_dict(), "sched_D": sched_D.state_dict(),
                 "scaler": scaler.state_dict(), "ranks": ranks}
        path = ckpt.save(run_dir / "checkpoints", state, step, cfg["checkpoint"]["keep"])
        kept = str(path)
        for k in ("G_A", "G_B"):  # the reference's file names and plain state_dict format
            ckpt.torch_save(state["nets"][k], run_dir / "generators" / f"latest_net_{k}.pth")
        say(f"checkpoint {path} ({reason})")

    def write_samples(shown_epoch: int) -> None:
        on_main(lambda: write_sample_grid(shown_epoch), main_rank, world, ctrl)

    def write_sample_grid(shown_epoch: int) -> None:
        grid = sample_grid(nets["G_A"], nets["G_B"], sample_A, sample_B)
        path = run_dir / "samples" / f"epoch{shown_epoch:04d}_step{step:08d}.png"
        save_image(path, grid)
        writer.add_image("samples/realA_fakeB_recA__realB_fakeA_recB", grid, step, dataformats="HWC")
        say(f"samples {path}")

    say(f"run {cfg['run']}: {world} process(es) on {device.type}, batch {b} per process, global batch {b * world}, "
        f"{n} images per epoch, {spe} steps per epoch, {total_epochs} epochs, {total_steps} steps; "
        f"precision {precision}, channels_last {channels_last}, workers {workers}, cpus {cpus:g}")

    old_handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    _stop_signal.clear()
    every = log_cfg["every_steps"]
    last_ckpt = time.monotonic()
    win_start, win_steps, win_loss = time.monotonic(), 0, None
    monitor = None
    if local_rank == 0:  # one per pod: the cgroup and the GPUs are the pod's, whatever the processes
        node = int(os.environ.get("GROUP_RANK", "0"))
        monitor = Monitor("train", gpu_floor=log_cfg["gpu_util_floor"],
                          path=run_dir / ("usage.json" if node == 0 else f"usage-node{node}.json")).start()
    try:
        while epoch < total_epochs and step < total_steps:
            in_epoch = seen // (b * world)
            sampler = ShardSampler(n, epoch, seed, rank, world, start=in_epoch * b)
            loader = DataLoader(dataset, batch_size=b, sampler=sampler, num_workers=workers,
                                pin_memory=device.type == "cuda", persistent_workers=False)
            stop = due = False
            for real_A, real_B in loader:
                real_A = real_A.to(device, non_blocking=True).contiguous(memory_format=memory_format)
                real_B = real_B.to(device, non_blocking=True).contiguous(memory_format=memory_format)
                losses = update(real_A, real_B)
                step, in_epoch, seen = step + 1, in_epoch + 1, seen + b * world
                win_loss = losses if win_loss is None else win_loss + losses
                win_steps += 1
                # All ranks must agree to stop or checkpoint: rank 0's clock decides, any rank's signal counts.
                flags = torch.tensor([1 if _stop_signal else 0,
                                      1 if main_rank and time.monotonic() - last_ckpt >= cfg["checkpoint"]["every_minutes"] * 60 else 0])
                if world > 1:
                    dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=ctrl)
                stop, due = bool(flags[0]), bool(flags[1])
                if step % every == 0 or step == total_steps:
                    guard()
                    stats = win_loss / win_steps
                    if world > 1:
                        dist.all_reduce(stats)
                        stats /= world
                    stats = stats.tolist()
                    elapsed = time.monotonic() - win_start
                    ips = win_steps * b * world / elapsed
                    eta = (total_steps - step) * elapsed / win_steps
                    lr = opt_G.param_groups[0]["lr"]
                    util = monitor.recent_gpu() if monitor else None
                    gpu = "n/a" if util is None else f"{util:.0f}% {torch.cuda.max_memory_allocated(device) / 2**30:.1f}GiB"
                    say(f"epoch {epoch + 1}/{total_epochs} step {step}/{total_steps} ({in_epoch}/{spe}) "
                        f"{ips:.1f} img/s eta {fmt_duration(eta)} | "
                        + " ".join(f"{k} {v:.3f}" for k, v in zip(LOSS_NAMES, stats)) + f" | lr {lr:.2e} | gpu {gpu}")
                    if writer:
                        for k, v in zip(LOSS_NAMES, stats):
                            writer.add_scalar(f"loss/{k}", v, step)
                        writer.add_scalar("lr", lr, step)
                        writer.add_scalar("img_per_s", ips, step)
                        if util is not None:
                            writer.add_scalar("gpu_util", util, step)
                    win_start, win_steps, win_loss = time.monotonic(), 0, None
                if stop or step >= total_steps:
                    break
                if due:
                    save_checkpoint("timer")
                    last_ckpt = time.monotonic()
            epoch_end = in_epoch >= spe
            if epoch_end:
                epoch, seen = epoch + 1, 0
                sched_G.step()
                sched_D.step()
            if stop:
                signame = signal.Signals(_stop_signal[0]).name if _stop_signal else "a signal on another rank"
                save_checkpoint(f"{signame}")
                say(f"stopping after {signame} at step {step}; a restart resumes from this checkpoint")
                return 128 + (_stop_signal[0] if _stop_signal else signal.SIGTERM)
            if epoch_end or step >= total_steps:
                save_checkpoint("end of epoch" if epoch_end else "end of training")
                last_ckpt = time.monotonic()
                write_samples(epoch if epoch_end else epoch + 1)
        say(f"done: run {cfg['run']} at step {step}; generators in {run_dir / 'generators'}")
        return 0
    finally:
        if monitor:
            monitor.stop()
        for s, h in old_handlers.items():
            signal.signal(s, h)
        if writer:
            writer.close()


def main(argv=None) -> int:
    p = cli.Parser(prog="python -m trainer.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="train.yaml (schema: schemas/train-config.schema.json)")
    p.add_argument("--root", default="/data", help="the PVC mount: datasets/ and runs/ live here")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set train.lr=0.0001 (repeatable)")
    args = p.parse_args(argv)
    try:
        return cli.run(lambda: train(load_config(args.config, args.set), Path(args.root)))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
