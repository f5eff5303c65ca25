"""CycleGAN networks with the reference implementation's layer order and state-dict keys.

Generator: ResNet with n_blocks residual blocks (keys model.1.weight ... model.10.conv_block.1.weight ...
model.26.bias at 9 blocks), so the reference's published `latest_net_G_*.pth` files load here and ours load there.
Discriminator: 70x70 PatchGAN. InstanceNorm without affine parameters or running statistics means every
sample is normalised by itself: a batch of N behaves as N batches of 1, which is what makes data-parallel
training match a single process at the same global batch.
"""
from pathlib import Path

import torch
from torch import nn


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        # Indices 0..6 as in the reference (no dropout): pad, conv, norm, relu, pad, conv, norm.
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), _norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), _norm(dim))

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, ngf: int = 64, n_blocks: int = 9, channels: int = 3):
        super().__init__()
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, 7, bias=True), _norm(ngf), nn.ReLU(True)]
        for mult in (1, 2):  # two stride-2 downsamplings
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                       _norm(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):  # two stride-2 upsamplings; output_padding=1 restores even sizes exactly
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=True),
                       _norm(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN: n_layers stride-2 convs then two stride-1 convs; 30x30 logits for 256x256 input."""

    def __init__(self, ndf: int = 64, n_layers: int = 3, channels: int = 3):
        super().__init__()
        layers = [nn.Conv2d(channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=True),
                       _norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def init_weights(net: nn.Module, std: float = 0.02) -> nn.Module:
    # The reference's "normal" init: conv weights N(0, 0.02), biases 0 (the norms have no parameters).
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)
    return net


def build(model_cfg: dict) -> dict[str, nn.Module]:
    """The four networks from the config's `model` section, initialised."""
    g = lambda: init_weights(ResnetGenerator(model_cfg["ngf"], model_cfg["n_blocks"]))  # noqa: E731
    d = lambda: init_weights(PatchDiscriminator(model_cfg["ndf"], model_cfg["n_layers_d"]))  # noqa: E731
    return {"G_A": g(), "G_B": g(), "D_A": d(), "D_B": d()}


def unfit_crop(model_cfg: dict, crop: int) -> str | None:
    """Why the networks cannot train on crop x crop images, or None; shapes only (meta device), no memory."""
    with torch.device("meta"):
        nets, x = build(model_cfg), torch.empty(1, 3, crop, crop)
        try:
            fits = nets["G_A"](x).shape == x.shape
        except (RuntimeError, ValueError):
            fits = False
        if not fits:
            return "the generator halves the size twice and doubles it back, so it needs a multiple of 4 from 8"
        try:
            nets["D_A"](x)
        except (RuntimeError, ValueError):
            return f"the discriminator's {model_cfg['n_layers_d']} layers shrink it to nothing"
    return None


def clean_generator_state(state: dict) -> dict:
    """Drop InstanceNorm running-stat keys that old PyTorch versions wrote into the reference's files."""
    junk = ("running_mean", "running_var", "num_batches_tracked")
    return {k: v for k, v in state.items() if not k.endswith(junk)}


def generator_from_state(state: dict) -> ResnetGenerator:
    """Build a generator whose size matches a reference-format state dict and load it strictly."""
    state = clean_generator_state(state)
    if "model.1.weight" not in state:
        raise ValueError("not a ResNet generator state dict (no model.1.weight)")
    ngf = state["model.1.weight"].shape[0]
    n_blocks = len({k.split(".")[1] for k in state if ".conv_block." in k})
    net = ResnetGenerator(ngf, n_blocks)
    net.load_state_dict(state, strict=True)
    return net


def load_generator(path: str | Path) -> ResnetGenerator:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if hasattr(state, "_metadata"):
        del state._metadata
    return generator_from_state(dict(state))
