import pytest
import torch

from kino.config import PRESETS, preset
from kino.models.dit import DiT, apply_rope, rope_frequencies, rope_tables


def tiny_dit():
    torch.manual_seed(0)
    cfg = preset("tiny")
    return DiT(cfg.dit, cfg.vae.latent_channels).eval()


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
