"""One CycleGAN update, shared by the training loop (trainer.train) and the benchmarks (bench/trainer.py).

Reference order (junyanz/pytorch-CycleGAN-and-pix2pix, optimize_parameters): the generator step with both
discriminators frozen, then one discriminator step on real images and pooled fakes with each loss halved.
LSGAN (MSE) losses, cycle weight lambda_cycle for both directions, identity weighted lambda_identity x
lambda_cycle. Losses are computed in fp32 even under autocast.
"""
import itertools
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

LOSS_NAMES = ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B")


class Generators(nn.Module):
    """Both generators in one forward, so one DDP wrapper syncs all their gradients in one backward."""

    def __init__(self, G_A, G_B):
        super().__init__()
        self.G_A, self.G_B = G_A, G_B

    def forward(self, real_A, real_B, identity: bool):
        fake_B = self.G_A(real_A)
        fake_A = self.G_B(real_B)
        out = [fake_B, self.G_B(fake_B), fake_A, self.G_A(fake_A)]  # fakes and reconstructions
        out += [self.G_A(real_B), self.G_B(real_A)] if identity else [None, None]
        return out


class Discriminators(nn.Module):
    def __init__(self, D_A, D_B):
        super().__init__()
        self.D_A, self.D_B = D_A, D_B

    def forward(self, real_B, fake_B, real_A, fake_A):
        return self.D_A(real_B), self.D_A(fake_B), self.D_B(real_A), self.D_B(fake_A)


def gan_loss(pred: torch.Tensor, real: bool) -> torch.Tensor:
    pred = pred.float()
    return F.mse_loss(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))


def l1(a, b):
    return F.l1_loss(a.float(), b.float())


def optimizers(nets: dict, lr: float, beta1: float):
    """(opt_G, opt_D): one Adam over both generators, one over both discriminators, as the reference."""
    adam = lambda *names: torch.optim.Adam(  # noqa: E731
        itertools.chain(*(nets[k].parameters() for k in names)), lr=lr, betas=(beta1, 0.999))
    return adam("G_A", "G_B"), adam("D_A", "D_B")


class Step:
    """`step(real_A, real_B)` runs one update and returns the losses (LOSS_NAMES order) as one tensor.

    nets: the four networks (on their device, in their memory format); compile wraps each in
    torch.compile; ddp wraps the generator pair and the discriminator pair in DistributedDataParallel."""

    def __init__(self, nets: dict, opt_G, opt_D, pools: dict, scaler, *, lambda_cycle: float,
                 lambda_identity: float, amp_dtype=None, compile: bool = False, ddp: bool = False, device_ids=None):
        G_A, G_B, D_A, D_B = (torch.compile(nets[k]) if compile else nets[k] for k in ("G_A", "G_B", "D_A", "D_B"))
        self.gens, self.discs, self.D_A, self.D_B = Generators(G_A, G_B), Discriminators(D_A, D_B), D_A, D_B
        if ddp:
            self.gens = DDP(self.gens, device_ids=device_ids, broadcast_buffers=False)
            self.discs = DDP(self.discs, device_ids=device_ids, broadcast_buffers=False)
        self.params_D = list(itertools.chain(nets["D_A"].parameters(), nets["D_B"].parameters()))
        self.opt_G, self.opt_D, self.pools, self.scaler = opt_G, opt_D, pools, scaler
        self.lam, self.lam_idt, self.amp_dtype = lambda_cycle, lambda_identity, amp_dtype

    def autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=self.amp_dtype) if self.amp_dtype else nullcontext()

    def __call__(self, real_A: torch.Tensor, real_B: torch.Tensor) -> torch.Tensor:
        lam, lam_idt, pools, scaler = self.lam, self.lam_idt, self.pools, self.scaler
        # Generators: D frozen so the G loss backpropagates through D into G without touching D's grads.
        for p in self.params_D:
            p.requires_grad_(False)
        with self.autocast(real_A.device):
            fake_B, rec_A, fake_A, rec_B, idt_A, idt_B = self.gens(real_A, real_B, lam_idt > 0)
            loss_G_A, loss_G_B = gan_loss(self.D_A(fake_B), True), gan_loss(self.D_B(fake_A), True)
            cyc_A, cyc_B = l1(rec_A, real_A) * lam, l1(rec_B, real_B) * lam
            zero = torch.zeros((), device=real_A.device)
            idt_loss_A = l1(idt_A, real_B) * lam * lam_idt if lam_idt > 0 else zero
            idt_loss_B = l1(idt_B, real_A) * lam * lam_idt if lam_idt > 0 else zero
            loss_G = loss_G_A + loss_G_B + cyc_A + cyc_B + idt_loss_A + idt_loss_B
        self.opt_G.zero_grad(set_to_none=True)
        scaler.scale(loss_G).backward()
        scaler.step(self.opt_G)
        # Discriminators: real vs (pooled) fake, each loss halved as in the reference.
        for p in self.params_D:
            p.requires_grad_(True)
        with self.autocast(real_A.device):
            pooled_B = pools["B"].query(fake_B.detach().float())
            pooled_A = pools["A"].query(fake_A.detach().float())
            real_pb, fake_pb, real_pa, fake_pa = self.discs(real_B, pooled_B, real_A, pooled_A)
            loss_D_A = 0.5 * (gan_loss(real_pb, True) + gan_loss(fake_pb, False))
            loss_D_B = 0.5 * (gan_loss(real_pa, True) + gan_loss(fake_pa, False))
        self.opt_D.zero_grad(set_to_none=True)
        scaler.scale(loss_D_A + loss_D_B).backward()
        scaler.step(self.opt_D)
        scaler.update()
        return torch.stack([loss_D_A, loss_G_A, cyc_A, idt_loss_A, loss_D_B, loss_G_B, cyc_B, idt_loss_B]).detach()
