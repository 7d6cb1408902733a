"""Diffusers model folders with random weights, built offline: tiny ones for tests, and the real
models' sizes for timing on a GPU (``tools/device/``). They have the layout, configs and classes
of the folders users download (``model_index.json`` and one folder per component), so kino loads
them exactly as it loads real weights; what they make is noise.

    python -m kino.backends.random_folders wan /tmp/wan-tiny
    python -m kino.backends.random_folders ltx /tmp/ltx-2b --size real
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import torch

# The tokenizer's words: enough that test prompts tokenize into several pieces; anything else is
# spelled from letters. A real folder's tokenizer is the model's own.
WORDS = ("a an the of and on in at to with from red blue green yellow white black big small dog cat ball "
         "car man woman child bird runs walks flies moves rolls jumps beach street park city forest sky sea "
         "sunset night day camera pans zooms handheld slow fast left right up down across over under").split()


def tokenizer():
    """A T5 (sentencepiece unigram) tokenizer built from ``WORDS`` and single letters, no download."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("\u2581" + w, -1.0 - i / 100) for i, w in enumerate(WORDS)]
    vocab += [(c, -10.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-\u2581"]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def t5_encoder(d_model: int, layers: int, heads: int, d_ff: int, umt5: bool):
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    kw = dict(vocab_size=len(tokenizer()), d_model=d_model, d_kv=d_model // heads, d_ff=d_ff, num_layers=layers,
              num_heads=heads, relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", is_encoder_decoder=False)
    return UMT5EncoderModel(UMT5Config(**kw)) if umt5 else T5EncoderModel(T5Config(**kw))


def wan(size: str):
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(0)
    if size == "real":  # Wan2.1-T2V-1.3B: 30 layers of width 1536, UMT5-XXL text states of 4096
        vae = AutoencoderKLWan()
        transformer = WanTransformer3DModel(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960,
                                            num_layers=30, text_dim=4096)
        text_encoder = t5_encoder(4096, 24, 64, 10240, umt5=True)
    else:
        vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                               temperal_downsample=[False, True, True])
        transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                            in_channels=16, out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32,
                                            num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                            rope_max_seq_len=32)
        text_encoder = t5_encoder(32, 1, 2, 64, umt5=True)
    return WanPipeline(tokenizer=tokenizer(), text_encoder=text_encoder, vae=vae, transformer=transformer,
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0 if size == "real" else 7.0))


def ltx(size: str):
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline, LTXVideoTransformer3DModel

    torch.manual_seed(0)
    if size == "real":  # LTX-Video 2B (0.9.x): 28 layers of width 2048, T5-XXL text states of 4096
        vae = AutoencoderKLLTXVideo()
        transformer = LTXVideoTransformer3DModel()
        text_encoder = t5_encoder(4096, 24, 64, 10240, umt5=False)
    else:
        vae = AutoencoderKLLTXVideo(latent_channels=8, block_out_channels=(8, 8, 8, 8),
                               decoder_block_out_channels=(8, 8, 8, 8),
                               spatio_temporal_scaling=(True, True, False, False),
                               decoder_spatio_temporal_scaling=(True, True, False, False),
                               decoder_inject_noise=(False, False, False, False, False),
                               layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
                               patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False)
        transformer = LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                            num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                            num_layers=1, caption_channels=32)
        text_encoder = t5_encoder(32, 1, 2, 64, umt5=False)
    return LTXPipeline(tokenizer=tokenizer(), text_encoder=text_encoder, vae=vae, transformer=transformer,
                       scheduler=FlowMatchEulerDiscreteScheduler())


def _cogvideox_parts(size: str, real: dict, tiny: dict):
    """A CogVideoX VAE, transformer (``real`` or ``tiny`` settings over the shared ones) and T5 encoder."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel

    torch.manual_seed(0)
    if size == "real":
        return AutoencoderKLCogVideoX(), CogVideoXTransformer3DModel(**real), t5_encoder(4096, 24, 64, 10240, umt5=False)
    blocks = 4
    vae = AutoencoderKLCogVideoX(down_block_types=("CogVideoXDownBlock3D",) * blocks,
                                 up_block_types=("CogVideoXUpBlock3D",) * blocks, block_out_channels=(8,) * blocks,
                                 latent_channels=4, layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4)
    transformer = CogVideoXTransformer3DModel(num_attention_heads=2, attention_head_dim=16, out_channels=4,
                                              time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_width=16,
                                              sample_height=16, sample_frames=17, patch_size=2,
                                              temporal_compression_ratio=4, max_text_seq_length=16,
                                              use_rotary_positional_embeddings=True, **tiny)
    return vae, transformer, t5_encoder(32, 1, 2, 64, umt5=False)


def cogvideox(size: str):
    from diffusers import CogVideoXDDIMScheduler, CogVideoXPipeline

    # real: CogVideoX-2b, 30 layers of width 1920, T5-XXL text states of 4096
    vae, transformer, text_encoder = _cogvideox_parts(size, dict(num_attention_heads=30, num_layers=30),
                                                      dict(in_channels=4))
    return CogVideoXPipeline(tokenizer=tokenizer(), text_encoder=text_encoder, vae=vae, transformer=transformer,
                             scheduler=CogVideoXDDIMScheduler())


def cogvideox_i2v(size: str):
    """CogVideoX image to video: the first frame's latents ride beside the noise (twice the input
    channels), positions learnt for one size."""
    from diffusers import CogVideoXDDIMScheduler, CogVideoXImageToVideoPipeline

    # real: CogVideoX-5b-I2V, 42 layers of width 3072, T5-XXL text states of 4096
    vae, transformer, text_encoder = _cogvideox_parts(
        size, dict(num_attention_heads=48, num_layers=42, in_channels=32, use_rotary_positional_embeddings=True,
                   use_learned_positional_embeddings=True),
        dict(in_channels=8, use_learned_positional_embeddings=True))
    return CogVideoXImageToVideoPipeline(tokenizer=tokenizer(), text_encoder=text_encoder, vae=vae,
                                         transformer=transformer, scheduler=CogVideoXDDIMScheduler())


def _wan_vae(size: str):
    from diffusers import AutoencoderKLWan

    if size == "real":
        return AutoencoderKLWan()
    return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True])


def _wan_transformer(size: str, cls=None, **kw):
    from diffusers import WanTransformer3DModel

    cls = cls or WanTransformer3DModel
    if size == "real":  # the 14B models: 40 layers of width 5120
        return cls(num_attention_heads=40, attention_head_dim=128, ffn_dim=13824, num_layers=40, text_dim=4096, **kw)
    return cls(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, out_channels=16, text_dim=32,
               freq_dim=256, ffn_dim=32, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
               **{"num_layers": 2, "in_channels": 16, **kw})


def wan_i2v(size: str):
    """Wan2.1-FLF2V: the first and last frames' latents beside the noise, and both frames' CLIP image
    states (``pos_embed_seq_len`` places the two; Wan2.1-I2V, which lacks it, takes a first frame only)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    if size == "real":
        vision = CLIPVisionConfig(hidden_size=1280, projection_dim=1024, num_hidden_layers=32, num_attention_heads=16,
                                  image_size=224, intermediate_size=5120, patch_size=14)
        image_dim, text_encoder = 1280, t5_encoder(4096, 24, 64, 10240, umt5=True)
    else:
        vision = CLIPVisionConfig(hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2,
                                  image_size=32, intermediate_size=16, patch_size=1)
        image_dim, text_encoder = 4, t5_encoder(32, 1, 2, 64, umt5=True)
    return WanImageToVideoPipeline(
        tokenizer=tokenizer(), text_encoder=text_encoder, vae=_wan_vae(size),
        transformer=_wan_transformer(size, in_channels=36, image_dim=image_dim,
                                     pos_embed_seq_len=2 * ((vision.image_size // vision.patch_size) ** 2 + 1)),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0 if size == "real" else 7.0),
        image_encoder=CLIPVisionModelWithProjection(vision),
        image_processor=CLIPImageProcessor(crop_size=vision.image_size, size=vision.image_size))


def wan_vace(size: str):
    """Wan2.1-VACE: given frames and masks (extend, masked edit, first and last frames) beside the noise."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanVACEPipeline, WanVACETransformer3DModel

    torch.manual_seed(0)
    if size == "real":  # VACE-1.3B: the T2V-1.3B transformer with 15 VACE blocks
        transformer = WanVACETransformer3DModel(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960,
                                                num_layers=30, text_dim=4096, vace_layers=list(range(0, 30, 2)))
        text_encoder = t5_encoder(4096, 24, 64, 10240, umt5=True)
    else:
        transformer = _wan_transformer(size, cls=WanVACETransformer3DModel, num_layers=3, vace_layers=[0, 2],
                                       vace_in_channels=96)
        text_encoder = t5_encoder(32, 1, 2, 64, umt5=True)
    return WanVACEPipeline(tokenizer=tokenizer(), text_encoder=text_encoder, vae=_wan_vae(size), transformer=transformer,
                           scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0 if size == "real" else 7.0))


FAMILIES: dict[str, Callable] = {"wan": wan, "wan-flf2v": wan_i2v, "wan-vace": wan_vace, "ltx": ltx,
                                 "cogvideox": cogvideox, "cogvideox-i2v": cogvideox_i2v}


def build(family: str, out: str | Path, size: str = "tiny") -> Path:
    """Write a random-weight folder of ``family`` (wan, ltx, cogvideox) at ``size`` (tiny or real)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    if size not in ("tiny", "real"):
        raise ValueError(f"unknown size {size!r}; use tiny or real")
    FAMILIES[family](size).save_pretrained(out)
    if size == "tiny":  # kino's defaults for it (kino.backends.diffusers_video.folder_defaults): small and quick
        defaults = {"width": 128, "height": 128, "seconds": 2.0, "fps": 8, "steps": 2}
        (Path(out) / "kino.json").write_text(json.dumps({"defaults": defaults}, indent=2) + "\n")
    return Path(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("family", choices=sorted(FAMILIES))
    p.add_argument("out")
    p.add_argument("--size", choices=("tiny", "real"), default="tiny")
    a = p.parse_args(argv)
    print(build(a.family, a.out, a.size))


if __name__ == "__main__":
    main()
