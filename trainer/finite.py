"""Stop a diverged run before anything is written from it: no checkpoint, generator or sample from NaN/inf.

Checked only where the loop synchronises anyway (each progress line, before each checkpoint), never per
step: the step's losses are summed on the device between checks and NaN/inf survive a sum, so one test
covers every step since the last one; the weights are tested too, as an update can turn them non-finite
after finite losses. Ranks agree over the control group, so all of them stop at the same step.
"""
import torch
import torch.distributed as dist

from .errors import UsageError
from .step import LOSS_NAMES


class Diverged(UsageError):
    """Exit code 2 like any UsageError: resuming the same settings diverges again, so a retry cannot help."""


def check(losses: torch.Tensor | None, nets: dict, *, step: int, kept: str | None, settings: str,
          world: int = 1, group=None) -> None:
    """Raise Diverged on every rank when any rank's summed losses or any weight is NaN or infinite.

    losses: LOSS_NAMES-ordered sums since the last check (None when there was no step); kept: the last good
    checkpoint, named in the message; settings: the values to lower, for the fix."""
    bad_losses = [] if losses is None else [n for n, ok in zip(LOSS_NAMES, torch.isfinite(losses).tolist()) if not ok]
    weights_ok = torch.stack([torch.isfinite(p).all() for net in nets.values() for p in net.parameters()]).all()
    flags = torch.tensor([len(bad_losses) > 0, not weights_ok.item()], dtype=torch.int32)
    if world > 1:
        dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=group)
    if not flags.any():
        return
    what = (f"losses ({', '.join(bad_losses)})" if bad_losses else "losses on another rank" if flags[0] else "")
    what += (" and " if what and flags[1] else "") + ("weights" if flags[1] else "")
    resume = f"the re-run resumes from {kept}, which is kept" if kept else "nothing was saved from this run"
    raise Diverged(f"training diverged: {what} became NaN or infinite by step {step}",
                   f"lower {settings} and re-run; {resume}")
