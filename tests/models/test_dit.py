import pytest
import torch

from kino.config import PRESETS, preset
import dataclasses

from kino.models.dit import DiT, apply_rope, position_features, rope_frequencies, rope_tables
from kino.models.folder import grow_positions, grow_text_layers, grow_text_refiner


def tiny_dit():
    torch.manual_seed(0)
    cfg = preset("tiny")
    return DiT(cfg.dit, cfg.vae.latent_channels).eval()


def random_dit(cfg):
    """A transformer of ``cfg`` (a ModelConfig) with every weight random: no block starts as the identity."""
    torch.manual_seed(0)
    dit = DiT(cfg.dit, cfg.vae.latent_channels).eval()
    for p in dit.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return dit


def inputs(dit, t=3, h=4, w=6, batch=2):
    x = torch.randn(batch, dit.latent_channels, t, h, w)
    text = torch.randn(batch, 5, dit.cfg.text_dim)
    mask = torch.ones(batch, 5, dtype=torch.bool)
    return x, torch.rand(batch), text, mask


def test_zero_initialised_output_and_identity_blocks():
    dit = tiny_dit()
    x, t, text, mask = inputs(dit)
    assert torch.equal(dit(x, t, text, mask), torch.zeros_like(x))


@pytest.mark.parametrize("grid", [(1, 4, 4), (3, 4, 6), (5, 8, 2)])
def test_any_duration_and_size(grid):
    dit = tiny_dit()
    for p in dit.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x, t, text, mask = inputs(dit, *grid)
    out = dit(x, t, text, mask)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_patch_round_trip():
    dit = tiny_dit()
    x = torch.randn(2, dit.latent_channels, 3, 4, 6)
    tokens, grid = dit.patchify(x)
    assert tokens.shape == (2, 3 * 2 * 3, dit.latent_channels * 4)
    assert torch.equal(dit.unpatchify(tokens, grid), x)


def test_text_padding_is_ignored():
    dit = tiny_dit()
    for p in dit.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x, t, text, mask = inputs(dit, batch=1)
    mask[:, 3:] = False
    text2 = text.clone()
    text2[:, 3:] = 100.0
    assert torch.allclose(dit(x, t, text, mask), dit(x, t, text2, mask), atol=1e-5)


def test_rope_positions_distinguish_axes():
    f = rope_frequencies((2, 3, 4), 16, "cpu")
    assert f.shape == (2, 24, 8)
    angles = torch.atan2(f[1], f[0])
    assert len({tuple(row.round(decimals=4).tolist()) for row in angles}) == 24


def test_rope_is_the_complex_rotation_and_relative():
    f = rope_frequencies((3, 4, 5), 16, "cpu")
    x = torch.randn(2, 3, 60, 16)
    reference = torch.view_as_real(torch.view_as_complex(x.reshape(2, 3, 60, 8, 2)) * torch.polar(f[0] * 0 + 1, torch.atan2(f[1], f[0])))
    assert torch.allclose(apply_rope(x, rope_tables(f, x.dtype)), reference.flatten(-2), atol=1e-5)
    # Scores depend only on the offset between positions: shifting both tokens in time keeps q.k.
    q, k = torch.randn(16), torch.randn(16)
    rot = lambda v, i: apply_rope(v.view(1, 1, 1, 16).expand(1, 1, 60, 16), rope_tables(f, v.dtype))[0, 0, i]
    assert torch.allclose(rot(q, 0) @ rot(k, 20), rot(q, 20) @ rot(k, 40), atol=1e-4)


def test_presets_span_tiny_to_multi_gpu():
    sizes = {}
    for name, cfg in PRESETS.items():
        with torch.device("meta"):
            sizes[name] = sum(p.numel() for p in DiT(cfg.dit, cfg.vae.latent_channels).parameters())
    assert sizes["tiny"] < 1e6 < sizes["default"] < 1e8 < sizes["xl"]
    assert sizes["xl"] > 1e9


def test_cpu_bf16_attention_matches_fused_attention(monkeypatch):
    import torch.nn.functional as F

    from kino.models import dit as dit_module

    q, k, v = (torch.randn(2, 3, 50, 16) for _ in range(3))
    mask = torch.ones(2, 1, 1, 50, dtype=torch.bool)
    mask[1, ..., 30:] = False
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    monkeypatch.setattr(dit_module, "SCORE_BYTES", 2 * 3 * 50 * 2 * 7)  # 7 query rows per chunk
    out = dit_module.attend(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask)
    assert out.dtype == torch.bfloat16 and out.shape == reference.shape
    assert (out.float() - reference).abs().max() < 0.05
    # Masked keys get no weight: changing them changes nothing.
    v2 = v.clone()
    v2[1, :, 30:] = 100.0
    assert torch.equal(dit_module.attend(q.bfloat16(), k.bfloat16(), v2.bfloat16(), mask)[1], out[1])


def test_position_features_are_frame_relative_and_tell_every_token_apart():
    f = position_features((3, 4, 6), 4, "cpu")
    assert f.shape == (3 * 4 * 6, 6 * 4)
    assert len({tuple(row.round(decimals=4).tolist()) for row in f}) == 72
    # The top-left token of a 2x2 grid and the top-left quarter of a 4x4 grid (tokens 0, 1, 4, 5) share a centre.
    coarse = position_features((1, 2, 2), 4, "cpu")[0]
    fine = position_features((1, 4, 4), 4, "cpu")[[0, 1, 4, 5]]
    u = torch.atan2(coarse[4:8], coarse[12:16])  # height's lowest frequency angle = pi * y
    v = torch.atan2(fine[:, 4:8], fine[:, 12:16])
    assert torch.allclose(u[0], v[:, 0].mean(), atol=1e-5)


def test_positions_break_translation_symmetry():
    """Without absolute positions, a shifted input gives (away from the borders) the shifted output:
    the network cannot put an object "at the top left". With them it can."""
    def shifted_error(positions):
        torch.manual_seed(0)
        cfg = dataclasses.replace(preset("tiny").dit, positions=positions)
        dit = DiT(cfg, 4).eval()
        for p in dit.parameters():
            torch.nn.init.normal_(p, std=0.1)
        x = torch.zeros(1, 4, 1, 16, 16)
        x[..., 6:8, 6:8] = 1.0  # one object in the middle of an otherwise constant latent
        text, mask = torch.randn(1, 5, cfg.text_dim), torch.ones(1, 5, dtype=torch.bool)
        t = torch.tensor([0.5])
        with torch.no_grad():
            a, b = dit(x, t, text, mask), dit(torch.roll(x, (2, 2), (-2, -1)), t, text, mask)
        inner = (..., slice(6, 10), slice(6, 10))  # around the shifted object, far from every border
        return float((torch.roll(a, (2, 2), (-2, -1))[inner] - b[inner]).abs().max() / b[inner].abs().max())

    assert shifted_error(0) < 1e-4
    assert shifted_error(4) > 0.1  # measured: 6.5e-6 without, 0.74 with


def test_growing_positions_keeps_the_function_and_adds_only_the_projection():
    cfg = dataclasses.replace(preset("tiny"), dit=dataclasses.replace(preset("tiny").dit, positions=0))
    dit = random_dit(cfg)
    grown_cfg, grown = grow_positions(cfg, dit, 4)
    assert grown_cfg.dit.positions == 4 and not grown.training
    assert set(grown.state_dict()) - set(dit.state_dict()) == {"pos_embed.weight", "pos_embed.bias"}
    x, t, text, mask = inputs(dit)
    assert torch.equal(dit(x, t, text, mask), grown(x, t, text, mask))
    with pytest.raises(ValueError, match="already has position features"):
        grow_positions(grown_cfg, grown, 4)


def test_growing_text_layers_keeps_the_function_until_the_new_layer_is_trained():
    cfg = preset("tiny")
    dit = random_dit(cfg)
    grown_cfg, grown = grow_text_layers(cfg, dit, (0, -1))
    assert grown_cfg.dit.text_layers == (0, -1) and grown_cfg.dit.text_dim == 2 * cfg.dit.text_dim
    x, t, text, mask = inputs(dit)
    embedding_layer = torch.randn_like(text)
    assert torch.allclose(dit(x, t, text, mask), grown(x, t, torch.cat([embedding_layer, text], -1), mask), atol=1e-6)
    with pytest.raises(ValueError, match="cannot grow"):
        grow_text_layers(grown_cfg, grown, (-1,))


def context_read_by_the_video(dit, text, mask):
    """The text states the first block's cross-attention reads."""
    seen = {}
    hook = dit.blocks[0].cross.register_forward_pre_hook(lambda m, args: seen.update(context=args[1]))
    x, t, _, _ = inputs(dit, batch=text.shape[0])
    with torch.no_grad():
        dit(x, t, text, mask)
    hook.remove()
    return seen["context"]


def test_text_blocks_let_each_word_take_in_the_others_and_grow_from_the_identity():
    cfg = preset("tiny")
    dit = random_dit(cfg)
    grown_cfg, grown = grow_text_refiner(cfg, dit, 2)
    assert grown_cfg.dit.text_refiner == 2 and not grown.training
    assert {k.split(".")[0] for k in set(grown.state_dict()) - set(dit.state_dict())} == {"text_blocks"}
    x, t, text, mask = inputs(dit)
    assert torch.equal(dit(x, t, text, mask), grown(x, t, text, mask))  # new blocks start as the identity
    with pytest.raises(ValueError, match="cannot grow"):
        grow_text_refiner(grown_cfg, grown, 2)

    # Change only the last word: without text blocks the first word's state stays the same, with them it moves.
    other = text.clone()
    other[:, -1] = torch.randn_like(other[:, -1])
    for p in grown.text_blocks.parameters():
        torch.nn.init.normal_(p, std=0.05)
    first = lambda model, words: context_read_by_the_video(model, words, mask)[:, 0]
    assert torch.equal(first(dit, text), first(dit, other))
    assert (first(grown, text) - first(grown, other)).abs().max() > 1e-3
    # A padding token is never read by the text blocks either.
    padded = torch.ones(2, 5, dtype=torch.bool)
    padded[:, -1] = False
    before = context_read_by_the_video(grown, text, padded)[:, 0]
    assert torch.allclose(before, context_read_by_the_video(grown, other, padded)[:, 0], atol=1e-6)


def test_cross_attention_maps_are_the_probabilities_the_output_is_made_from():
    cfg = preset("tiny")
    dit = random_dit(cfg)
    x, t, text, mask = inputs(dit)
    mask[1, 3:] = False  # padding is never attended
    plain = dit(x, t, text, mask)
    with dit.cross_attention_maps() as maps:
        kept = dit(x, t, text, mask)
    assert len(maps) == cfg.dit.depth and maps[0].shape == (2, x[0, 0].numel() // 4, 5)  # (B, N, L), 2x2 patches
    assert torch.allclose(plain, kept, atol=1e-5)
    assert torch.allclose(maps[0].sum(-1), torch.ones(2, maps[0].shape[1]), atol=1e-5)
    assert (maps[-1][1, :, 3:] == 0).all()
    maps[0][:, :, 1].sum().backward()  # an attention loss trains what the video attends to
    assert dit.blocks[0].cross.q.weight.grad.abs().sum() > 0 and dit.text_proj[0].weight.grad.abs().sum() > 0
    with dit.cross_attention_maps() as maps:
        pass
    dit(x, t, text, mask)
    assert maps == [] and all(block.cross.maps is None for block in dit.blocks)
