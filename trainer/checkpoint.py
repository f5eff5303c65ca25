"""Atomic checkpoints in <run>/checkpoints: step_<N>.pt, the last K kept, the newest readable one loaded."""
import random
import re
import sys
import warnings
from pathlib import Path

import jsonschema
import numpy as np
import torch

from . import atomic, config, models
from .errors import UsageError

PATTERN = re.compile(r"^step_(\d+)\.pt$")


def torch_save(obj, path: Path) -> None:
    atomic.write(path, lambda f: torch.save(obj, f))


def listing(folder: Path) -> list[Path]:
    """Checkpoints in `folder`, newest (highest step) first."""
    if not Path(folder).is_dir():
        return []
    found = [(int(m.group(1)), p) for p in Path(folder).iterdir() if (m := PATTERN.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def save(folder: Path, state: dict, step: int, keep: int) -> Path:
    path = Path(folder) / f"step_{step:09d}.pt"
    torch_save(state, path)
    for old in listing(folder)[keep:]:
        old.unlink(missing_ok=True)
    return path


def read(path: Path) -> dict:
    """A checkpoint as untrusted data: tensors and plain containers only, every part checked before use."""
    # weights_only: checkpoints live on a shared volume; never unpickle arbitrary objects from it.
    with warnings.catch_warnings():  # its notes on odd pickle protocols would add lines to a one-line report
        warnings.simplefilter("ignore")
        state = torch.load(path, map_location="cpu", weights_only=True)
    if problem := check(state):
        raise ValueError(problem)
    return state


def check(state) -> str | None:
    """What is wrong with a loaded checkpoint (None when nothing): keys, types, and every tensor's shape
    against the networks its own config describes, so a resume never fails (or trains garbage) halfway."""
    if not isinstance(state, dict):
        return f"not a mapping but {type(state).__name__}"
    if missing := [k for k in REQUIRED if k not in state]:
        return f"missing {', '.join(missing)}"
    for key in ("step", "epoch", "seen"):
        if not _count(state[key]):
            return f"{key} is {state[key]!r}, not a count"
    cfg = state["config"]
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        return "its config is not a mapping with a model section"
    schema = config.load_schema()["properties"]["model"]
    model = cfg["model"]
    if set(model) != set(schema["properties"]) or any(jsonschema.Draft202012Validator(schema).iter_errors(model)):
        return f"its model section {str(model)[:100]} is not a valid model"
    with torch.device("meta"):  # shapes only: no memory, no time
        nets = models.build(model)
    if not isinstance(state["nets"], dict) or set(state["nets"]) != set(nets):
        return f"nets must be {', '.join(nets)}"
    for name, net in nets.items():
        if problem := _tensors(state["nets"][name], {k: v.shape for k, v in net.state_dict().items()}, f"nets.{name}"):
            return problem
        if not all(torch.isfinite(v).all() for v in state["nets"][name].values()):
            return f"nets.{name} holds NaN or infinite weights"
    for opt, names in (("opt_G", ("G_A", "G_B")), ("opt_D", ("D_A", "D_B"))):
        if problem := _optimizer(state[opt], [p.shape for n in names for p in nets[n].parameters()], opt):
            return problem
    for key in ("sched_G", "sched_D"):
        sched = state[key]
        if not isinstance(sched, dict) or not _count(sched.get("last_epoch")) or not isinstance(sched.get("base_lrs"), list):
            return f"{key} is not a learning-rate schedule"
    if not isinstance(state["scaler"], dict):
        return "scaler is not a mapping"
    if not isinstance(state["ranks"], list) or not state["ranks"]:
        return "ranks is not a list of per-process states"
    for i, mine in enumerate(state["ranks"]):
        if problem := _rank(mine):
            return f"ranks[{i}]: {problem}"
    return None


REQUIRED = ("nets", "opt_G", "opt_D", "sched_G", "sched_D", "scaler", "step", "epoch", "seen", "config", "ranks")


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tensors(found, shapes: dict, where: str) -> str | None:
    if not isinstance(found, dict) or set(found) != set(shapes):
        return f"{where} does not have the keys of the networks its config describes"
    for key, shape in shapes.items():
        value = found[key]
        if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.shape != shape:
            return f"{where}.{key} is not a float tensor of shape {tuple(shape)}"
    return None


def _optimizer(opt, shapes: list, where: str) -> str | None:
    """Adam's state: one group over every parameter, per-parameter moments of the parameter's shape."""
    if not isinstance(opt, dict) or not isinstance(opt.get("state"), dict) or not isinstance(opt.get("param_groups"), list):
        return f"{where} is not an optimiser state"
    groups = opt["param_groups"]
    if len(groups) != 1 or not isinstance(groups[0], dict) or groups[0].get("params") != list(range(len(shapes))):
        return f"{where} does not cover the {len(shapes)} parameters of its networks"
    for index, moments in opt["state"].items():
        if not (isinstance(index, int) and 0 <= index < len(shapes)) or not isinstance(moments, dict):
            return f"{where} has state for an unknown parameter {index!r}"
        for key, value in moments.items():
            if not isinstance(value, torch.Tensor) or (value.dim() and value.shape != shapes[index]):
                return f"{where} state {index}.{key} does not match its parameter's shape"
    return None


def _rank(mine) -> str | None:
    """One process's image pools and RNG states: tried on throwaway generators, so garbage fails here."""
    try:
        rng, pools = mine["rng"], mine["pools"]
        torch.Generator().set_state(rng["torch"])
        kind, key, pos, has_gauss, gauss = rng["numpy"]
        np.random.RandomState().set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
        random.Random().setstate(rng["python"])
        images = []
        for d in "AB":
            random.Random().setstate(pools[d]["rng"])
            images += list(pools[d]["images"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
        return f"unusable pools or RNG states ({e.__class__.__name__})"
    if not all(isinstance(t, torch.Tensor) and t.is_floating_point() and t.dim() == 4 for t in images):
        return "pool images are not image tensors"
    if not (rng["cuda"] is None or isinstance(rng["cuda"], torch.Tensor)):
        return "unusable CUDA RNG state"
    return None


def load_latest(folder: Path, log=lambda msg: print(msg, file=sys.stderr, flush=True)):
    """(state, path) of the newest readable checkpoint, or (None, None) when there is none.

    A corrupt newest file (a pod killed by the node, a full disk) is reported and the previous one used;
    if checkpoints exist and none is readable, refuse rather than silently start over."""
    paths = listing(folder)
    for path in paths:
        try:
            return read(path), path
        except Exception as e:  # truncated zip, garbage, refused pickle, failed check()
            log(f"warning: checkpoint {path} is unreadable ({e.__class__.__name__}: {_first_line(e)}); "
                f"trying the previous one")
    if paths:
        raise UsageError(f"no readable checkpoint in {folder} ({len(paths)} corrupt)",
                         "delete that folder to start the run over, or pick another run name")
    return None, None


def _first_line(e: Exception) -> str:
    """One plain line of an exception: torch's refusal of a pickled object spans lines, with colour codes."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(e).splitlines()]
    lines = [line for line in lines if line] or [""]
    refusal = [line for line in lines if "Unsupported global" in line]
    return (refusal or lines)[0].removeprefix("WeightsUnpickler error: ")[:160]
