"""Reference parity of the networks: sizes, state-dict keys, PatchGAN output, reference-format files."""
import torch

from trainer.models import PatchDiscriminator, ResnetGenerator, build, generator_from_state, load_generator


def count(net):
    return sum(p.numel() for p in net.parameters())


def test_full_size_parameter_counts_match_the_reference():
    nets = build({"ngf": 64, "ndf": 64, "n_blocks": 9, "n_layers_d": 3})
    assert count(nets["G_A"]) == 11_378_179
    assert count(nets["D_A"]) == 2_764_737


def test_generator_state_dict_keys_are_the_reference_names():
    keys = list(ResnetGenerator(64, 9).state_dict())
    assert keys[:2] == ["model.1.weight", "model.1.bias"]
    assert keys[-2:] == ["model.26.weight", "model.26.bias"]
    # 3 convs before the blocks, 9 blocks with 2 convs each, 2 transposed convs, the output conv
    assert len(keys) == 2 * (3 + 9 * 2 + 2 + 1)
    for block in range(10, 19):
        for conv in (1, 5):
            assert f"model.{block}.conv_block.{conv}.weight" in keys
    assert not any("running" in k for k in keys)  # InstanceNorm without affine or running stats


def test_init_is_normal_0_002_with_zero_bias():
    g = build({"ngf": 64, "ndf": 64, "n_blocks": 9, "n_layers_d": 3})["G_A"]
    w = g.model[10].conv_block[1].weight
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    assert torch.count_nonzero(g.model[10].conv_block[1].bias) == 0


def test_patchgan_gives_30x30_for_256x256():
    with torch.no_grad():
        out = PatchDiscriminator(64, 3)(torch.zeros(1, 3, 256, 256))
    assert out.shape == (1, 1, 30, 30)


def test_generator_keeps_the_image_size():
    with torch.no_grad():
        out = ResnetGenerator(4, 1)(torch.zeros(2, 3, 20, 28))
    assert out.shape == (2, 3, 20, 28) and out.abs().max() <= 1


def test_reference_format_file_round_trips(tmp_path):
    torch.manual_seed(1)
    g = build({"ngf": 8, "ndf": 4, "n_blocks": 2, "n_layers_d": 2})["G_A"]
    state = g.state_dict()
    # Files written by the reference under old PyTorch carry InstanceNorm running stats: they must still load.
    old_style = dict(state, **{"model.2.running_mean": torch.zeros(8), "model.2.running_var": torch.ones(8)})
    torch.save(old_style, tmp_path / "latest_net_G_A.pth")
    loaded = load_generator(tmp_path / "latest_net_G_A.pth")
    assert loaded.model[1].out_channels == 8 and sum(1 for m in loaded.model if hasattr(m, "conv_block")) == 2
    fresh = ResnetGenerator(8, 2)
    fresh.load_state_dict(loaded.state_dict(), strict=True)  # and back into a plain network
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(g(x), fresh(x))
    assert list(generator_from_state(state).state_dict()) == list(state)
