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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch.utils.data import DataLoader

from . import atomic, checkpoint as ckpt, cli, errors, finite, inputs, volume
from .config import dump as dump_config, load as load_config
from .cpus import available_cpus
from .data import ShardSampler, Unaligned, center_sample, open_splits, steps_per_epoch
from .errors import UsageError
from .models import build, unfit_crop
from .pool import ImagePool
from .step import LOSS_NAMES, Step, optimizers
from .usage import Monitor

MAX_PROCESSES = 2**20  # WORLD_SIZE, RANK and the other torchrun variables: far above any cluster

# --- machine ---------------------------------------------------------------------------------------------

def pick_precision(choice: str, device: torch.device) -> str:
    if choice != "auto":
        return choice
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def setup_distributed():
    """(rank, world, local_rank, device, control group); env rendezvous as torchrun sets it up."""
    world = inputs.env_int("WORLD_SIZE", 1, 1, MAX_PROCESSES)
    rank, local = inputs.env_int("RANK", 0, 0, MAX_PROCESSES), inputs.env_int("LOCAL_RANK", 0, 0, MAX_PROCESSES)
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


def tune_torch(t: dict, device: torch.device) -> tuple[float, int, str, bool]:
    """Set torch's global switches for this run; (cpus, DataLoader workers, precision, channels_last)."""
    if t["deterministic"]:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # warn_only: some CUDA backward kernels (reflection padding) have no deterministic variant.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    else:
        torch.backends.cudnn.benchmark = True  # fixed crop size: autotuning pays off after the first step
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    cpus = available_cpus()
    local_world = inputs.env_int("LOCAL_WORLD_SIZE", 1, 1, MAX_PROCESSES)
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, int(cpus // local_world)))
    workers = t["workers"] if isinstance(t["workers"], int) else max(0, min(8, int(cpus // local_world) - 1))
    # channels_last only on GPUs: on CPU (torch 2.9.1) instance_norm's backward returns wrong input
    # gradients for a channels_last batch of 1 (measured: |error| ~ 4 on unit-variance data).
    return cpus, workers, pick_precision(t["precision"], device), t["channels_last"] and device.type == "cuda"


_stop_signal: list[int] = []


def _on_signal(signum, frame):
    _stop_signal.append(signum)


# --- checkpoint contents --------------------------------------------------------------------------------------

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


# --- the run and its state ---------------------------------------------------------------------------------

@dataclass
class Run:
    """What stays fixed while the run trains: config, processes, data and sizes."""
    cfg: dict
    dir: Path                   # <root>/runs/<run>
    rank: int
    world: int
    local_rank: int
    device: torch.device
    ctrl: object                # the gloo group for control messages (None in a single process)
    cpus: float
    workers: int
    precision: str
    channels_last: bool
    splits: dict
    dataset: Unaligned
    batch: int                  # per process
    steps_per_epoch: int
    epochs: int                 # train.epochs + train.epochs_decay
    steps: int                  # the last step: every epoch's, or train.max_steps

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def global_batch(self) -> int:
        return self.batch * self.world

    @property
    def amp_dtype(self):
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    @property
    def memory_format(self):
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def to_device(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)

    def say(self, msg: str) -> None:
        if self.main:
            print(msg, flush=True)

    def warn(self, msg: str) -> None:
        if self.main:
            print(msg, file=sys.stderr, flush=True)


@dataclass
class State:
    """What a checkpoint holds (this rank's part of it) and where the run stands."""
    nets: dict
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    sched_G: torch.optim.lr_scheduler.LambdaLR
    sched_D: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    pools: dict
    epoch: int = 0                 # epochs completed
    seen: int = 0                  # images trained on in this epoch, all ranks together
    step: int = 0
    kept: str | None = None        # the last good checkpoint: named when the run stops on an error
    last_save: float = 0.0         # time.monotonic() of the last checkpoint
    window_start: float = 0.0      # since the last progress line: its start, steps and summed losses
    window_steps: int = 0
    window_loss: torch.Tensor | None = None

    def count(self, losses: torch.Tensor, global_batch: int) -> None:
        self.step, self.seen = self.step + 1, self.seen + global_batch
        self.window_loss = losses if self.window_loss is None else self.window_loss + losses
        self.window_steps += 1

    def next_epoch(self) -> None:
        self.epoch, self.seen = self.epoch + 1, 0
        self.sched_G.step()
        self.sched_D.step()


def plan(cfg: dict, root: Path) -> Run:
    t = cfg["train"]
    rank, world, local_rank, device, ctrl = setup_distributed()
    cpus, workers, precision, channels_last = tune_torch(t, device)
    run_dir = volume.writable_folder(root, "--root") / "runs" / cfg["run"]
    splits = open_splits(cfg, Path(root), ("trainA", "trainB", "testA", "testB"))
    b = t["batch_size"]
    dataset = Unaligned(splits["trainA"], splits["trainB"], t["crop_size"], t["flip"], t["seed"])
    n = len(dataset)
    if b * world > n:  # the loader would silently train on smaller batches than the config says
        raise UsageError(f"global batch {b * world} (train.batch_size {b} x {world} processes) is more than the {n} "
                         f"images of an epoch", f"set train.batch_size to at most {max(1, n // world)}")
    spe = steps_per_epoch(n, world, b)
    epochs = t["epochs"] + t["epochs_decay"]
    steps = spe * epochs if t["max_steps"] is None else min(spe * epochs, t["max_steps"])
    return Run(cfg, run_dir, rank, world, local_rank, device, ctrl, cpus, workers, precision, channels_last,
               splits, dataset, b, spe, epochs, steps)


def lr_factor(e: int, epochs: int, epochs_decay: int) -> float:
    """The learning rate's factor while epoch e (0-based) runs: the reference's linear decay."""
    return 1.0 - max(0, e + 1 - epochs) / (epochs_decay + 1)


def initial_state(run: Run) -> State:
    t, m = run.cfg["train"], run.cfg["model"]
    if why := unfit_crop(m, t["crop_size"]):
        raise UsageError(f"train.crop_size {t['crop_size']} does not fit the model: {why}",
                         "use a train.crop_size such as 256 (or lower model.n_layers_d)")
    torch.manual_seed(t["seed"])
    nets = build(m)
    for net in nets.values():
        net.to(run.device, memory_format=run.memory_format)
    opt_G, opt_D = optimizers(nets, t["lr"], t["beta1"])
    # lambdas, not partials: LambdaLR saves a partial's __dict__ in its state, a plain function as None
    sched_G = torch.optim.lr_scheduler.LambdaLR(opt_G, lambda e: lr_factor(e, t["epochs"], t["epochs_decay"]))
    sched_D = torch.optim.lr_scheduler.LambdaLR(opt_D, lambda e: lr_factor(e, t["epochs"], t["epochs_decay"]))
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.precision == "fp16")
    pools = {d: ImagePool(t["pool_size"], seed=f"{t['seed']}/{run.rank}/{d}") for d in "AB"}
    return State(nets, opt_G, opt_D, sched_G, sched_D, scaler, pools)


# --- resume, save, log, sample --------------------------------------------------------------------------

def resume(run: Run, state: State) -> None:
    """Load the newest readable checkpoint, if any: rank 0 picks it, the others load the same file."""
    loaded, choice = None, [None, None]  # [path, error]
    if run.main:
        try:
            loaded, path = ckpt.load_latest(run.dir / "checkpoints")
            choice[0] = str(path) if path else None
        except UsageError as e:
            choice[1] = str(e)
    if run.world > 1:
        dist.broadcast_object_list(choice, src=0, group=run.ctrl)
        if not run.main and choice[0]:
            loaded = ckpt.read(Path(choice[0]))
    if choice[1]:
        raise UsageError(choice[1])
    state.kept = choice[0]
    if loaded is None:
        return
    m = run.cfg["model"]
    if loaded["config"]["model"] != m:
        raise UsageError(f"run {run.cfg['run']!r} was trained with model {loaded['config']['model']}, "
                         f"the config asks for {m}",
                         "restore the model section or start a new run with another `run` name")
    try:  # ckpt.read checked the structure; this catches what only loading can tell (e.g. its precision)
        for name, net in state.nets.items():
            net.load_state_dict(loaded["nets"][name])
        for part in ("opt_G", "opt_D", "sched_G", "sched_D", "scaler"):
            getattr(state, part).load_state_dict(loaded[part])
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"checkpoint {state.kept} does not fit this run ({e.__class__.__name__}: "
                         f"{str(e).strip().splitlines()[0][:160]})",
                         "move it out of the checkpoints folder to resume from the previous one") from None
    state.epoch, state.seen, state.step = loaded["epoch"], loaded["seen"], loaded["step"]
    if len(loaded["ranks"]) == run.world:
        mine = loaded["ranks"][run.rank]
        for d in "AB":
            state.pools[d].load_state_dict(mine["pools"][d], run.device)
        set_rng_state(mine["rng"], run.device)
    else:
        run.warn(f"warning: checkpoint was written by {len(loaded['ranks'])} processes, now {run.world}: "
                 f"image pools and RNG states start fresh")
    run.say(f"resumed from {choice[0]} at epoch {state.epoch + 1} step {state.step}")


def check_finite(run: Run, state: State) -> None:
    """Stop before anything is logged or saved from NaN/inf losses or weights (all ranks at once)."""
    t = run.cfg["train"]
    settings = (f"train.lr (now {t['lr']:g}) or the loss weights train.lambda_cycle ({t['lambda_cycle']:g}) "
                f"and train.lambda_identity ({t['lambda_identity']:g})" + (", or set train.precision fp32" if run.amp_dtype else ""))
    try:
        finite.check(state.window_loss, state.nets, step=state.step, kept=state.kept, settings=settings,
                     world=run.world, group=run.ctrl)
    except finite.Diverged:
        if run.main:
            raise
        raise SystemExit(errors.USAGE) from None  # rank 0 says it, once


def save(run: Run, state: State, reason: str) -> None:
    """Checkpoint the full state (every rank's pools and RNG states gathered on rank 0, which writes it)."""
    check_finite(run, state)
    mine = {"pools": {d: state.pools[d].state_dict() for d in "AB"}, "rng": rng_state(run.device),
            "fingerprint": fingerprint({k: net.state_dict() for k, net in state.nets.items()})}
    ranks = [mine]
    if run.world > 1:
        ranks = [None] * run.world if run.main else None
        dist.gather_object(mine, ranks, dst=0, group=run.ctrl)
    on_main(lambda: write_checkpoint(run, state, ranks, reason), run.main, run.world, run.ctrl)
    state.last_save = time.monotonic()


def write_checkpoint(run: Run, state: State, ranks: list, reason: str) -> None:
    if len({r["fingerprint"] for r in ranks}) != 1:
        raise RuntimeError(f"parameters differ across ranks at step {state.step}: DDP replicas diverged")
    s = state
    saved = {"version": 1, "config": run.cfg, "epoch": s.epoch, "seen": s.seen, "step": s.step, "world": run.world,
             "nets": {k: {n_: v.cpu() for n_, v in net.state_dict().items()} for k, net in s.nets.items()},
             "opt_G": s.opt_G.state_dict(), "opt_D": s.opt_D.state_dict(),
             "sched_G": s.sched_G.state_dict(), "sched_D": s.sched_D.state_dict(),
             "scaler": s.scaler.state_dict(), "ranks": ranks}
    path = ckpt.save(run.dir / "checkpoints", saved, s.step, run.cfg["checkpoint"]["keep"])
    state.kept = str(path)
    for k in ("G_A", "G_B"):  # the reference's file names and plain state_dict format
        ckpt.torch_save(saved["nets"][k], run.dir / "generators" / f"latest_net_{k}.pth")
    run.say(f"checkpoint {path} ({reason})")


def stop_or_save(run: Run, state: State) -> tuple[bool, bool]:
    """(stop, checkpoint due), the same on every rank: rank 0's clock decides, any rank's signal counts."""
    due = run.main and time.monotonic() - state.last_save >= run.cfg["checkpoint"]["every_minutes"] * 60
    flags = torch.tensor([1 if _stop_signal else 0, 1 if due else 0])
    if run.world > 1:
        dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=run.ctrl)
    return bool(flags[0]), bool(flags[1])


def log(run: Run, state: State, writer, monitor) -> None:
    """One progress line (mean losses over the ranks since the last one, speed, eta, lr, GPU) and TensorBoard."""
    check_finite(run, state)
    stats = state.window_loss / state.window_steps
    if run.world > 1:
        dist.all_reduce(stats)
        stats /= run.world
    stats = stats.tolist()
    elapsed = time.monotonic() - state.window_start
    ips = state.window_steps * run.global_batch / elapsed
    eta = (run.steps - state.step) * elapsed / state.window_steps
    lr = state.opt_G.param_groups[0]["lr"]
    util = monitor.recent_gpu() if monitor else None
    gpu = "n/a" if util is None else f"{util:.0f}% {torch.cuda.max_memory_allocated(run.device) / 2**30:.1f}GiB"
    run.say(f"epoch {state.epoch + 1}/{run.epochs} step {state.step}/{run.steps} "
            f"({state.seen // run.global_batch}/{run.steps_per_epoch}) {ips:.1f} img/s eta {fmt_duration(eta)} | "
            + " ".join(f"{k} {v:.3f}" for k, v in zip(LOSS_NAMES, stats)) + f" | lr {lr:.2e} | gpu {gpu}")
    if writer:
        for k, v in zip(LOSS_NAMES, stats):
            writer.add_scalar(f"loss/{k}", v, state.step)
        writer.add_scalar("lr", lr, state.step)
        writer.add_scalar("img_per_s", ips, state.step)
        if util is not None:
            writer.add_scalar("gpu_util", util, state.step)
    state.window_start, state.window_steps, state.window_loss = time.monotonic(), 0, None


def sample_inputs(run: Run) -> tuple[torch.Tensor, torch.Tensor]:
    """The first test image of each domain (train when there is no test split), centre-cropped: the sample grid's input."""
    crop = run.cfg["train"]["crop_size"]
    a = center_sample(run.splits.get("testA", run.splits["trainA"])[0], crop).unsqueeze(0).to(run.device)
    b = center_sample(run.splits.get("testB", run.splits["trainB"])[0], crop).unsqueeze(0).to(run.device)
    return a, b


def sample(run: Run, state: State, inputs: tuple, writer, shown_epoch: int) -> None:
    def write() -> None:
        grid = sample_grid(state.nets["G_A"], state.nets["G_B"], *inputs)
        path = run.dir / "samples" / f"epoch{shown_epoch:04d}_step{state.step:08d}.png"
        save_image(path, grid)
        writer.add_image("samples/realA_fakeB_recA__realB_fakeA_recB", grid, state.step, dataformats="HWC")
        run.say(f"samples {path}")
    on_main(write, run.main, run.world, run.ctrl)


def start_monitor(run: Run) -> Monitor | None:
    if run.local_rank != 0:  # one per pod: the cgroup and the GPUs are the pod's, whatever the processes
        return None
    node = inputs.env_int("GROUP_RANK", 0, 0, MAX_PROCESSES)
    return Monitor("train", gpu_floor=run.cfg["log"]["gpu_util_floor"],
                   path=run.dir / ("usage.json" if node == 0 else f"usage-node{node}.json")).start()


# --- training --------------------------------------------------------------------------------------------

def train(cfg: dict, root: Path) -> int:
    run = plan(cfg, root)
    state = initial_state(run)
    resume(run, state)
    if state.epoch >= run.epochs or state.step >= run.steps:
        run.say(f"run {cfg['run']} is already complete (step {state.step} of {run.steps}); nothing to do")
        return 0
    on_main(lambda: atomic.write_text(run.dir / "config.yaml", dump_config(cfg)), run.main, run.world, run.ctrl)
    t = cfg["train"]
    update = Step(state.nets, state.opt_G, state.opt_D, state.pools, state.scaler, lambda_cycle=t["lambda_cycle"],
                  lambda_identity=t["lambda_identity"], amp_dtype=run.amp_dtype, compile=t["compile"],
                  ddp=run.world > 1, device_ids=[run.local_rank] if run.device.type == "cuda" else None)
    inputs = sample_inputs(run)
    writer = None
    if run.main:
        from torch.utils.tensorboard import SummaryWriter  # slow import; rank 0 only
        writer = SummaryWriter(str(run.dir / "tensorboard"), purge_step=state.step or None)
    run.say(f"run {cfg['run']}: {run.world} process(es) on {run.device.type}, batch {run.batch} per process, "
            f"global batch {run.global_batch}, {len(run.dataset)} images per epoch, {run.steps_per_epoch} steps per "
            f"epoch, {run.epochs} epochs, {run.steps} steps; precision {run.precision}, channels_last "
            f"{run.channels_last}, workers {run.workers}, cpus {run.cpus:g}")

    old_handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    _stop_signal.clear()
    state.last_save = state.window_start = time.monotonic()
    monitor = start_monitor(run)
    try:
        while state.epoch < run.epochs and state.step < run.steps:
            sampler = ShardSampler(len(run.dataset), state.epoch, t["seed"], run.rank, run.world,
                                   start=state.seen // run.global_batch * run.batch)
            loader = DataLoader(run.dataset, batch_size=run.batch, sampler=sampler, num_workers=run.workers,
                                pin_memory=run.device.type == "cuda", persistent_workers=False)
            stop = False
            for real_A, real_B in loader:
                state.count(update(run.to_device(real_A), run.to_device(real_B)), run.global_batch)
                stop, due = stop_or_save(run, state)
                if state.step % cfg["log"]["every_steps"] == 0 or state.step == run.steps:
                    log(run, state, writer, monitor)
                if stop or state.step >= run.steps:
                    break
                if due:
                    save(run, state, "timer")
            epoch_end = state.seen // run.global_batch >= run.steps_per_epoch
            if epoch_end:
                state.next_epoch()
            if stop:
                signame = signal.Signals(_stop_signal[0]).name if _stop_signal else "a signal on another rank"
                save(run, state, signame)
                run.say(f"stopping after {signame} at step {state.step}; a restart resumes from this checkpoint")
                return 128 + (_stop_signal[0] if _stop_signal else signal.SIGTERM)
            if epoch_end or state.step >= run.steps:
                save(run, state, "end of epoch" if epoch_end else "end of training")
                sample(run, state, inputs, writer, state.epoch if epoch_end else state.epoch + 1)
        run.say(f"done: run {cfg['run']} at step {state.step}; generators in {run.dir / 'generators'}")
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
