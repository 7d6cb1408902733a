import dataclasses
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from kino.models.dit import DiT
from kino.models.folder import load_config, load_meta, load_model_folder, save_model_folder
from kino.pipelines.text_to_video import Request, TextToVideoPipeline
from kino.data.datasets import ClipSpec
from kino.training.trainer import (
    EMA, decoder_loss, edge_loss, known_mask, object_rims, soft_colour, train, train_preset, vae_clips,
)


def test_known_masks_cover_each_conditioning_mode():
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(400):
        m = known_mask(rng, 5)
        assert m.shape == (5,) and set(m.tolist()) <= {0.0, 1.0}
        on = tuple(int(i) for i in m.nonzero().flatten())
        if not on:
            kinds.add("none")
        elif on == (0, 4):
            kinds.add("first+last")
        elif on == (4,):
            kinds.add("last")
        elif on == (0,):
            kinds.add("first")
        else:
            assert on == tuple(range(len(on)))  # a prefix
            kinds.add("prefix")
    assert kinds == {"none", "first", "last", "prefix", "first+last"}


@pytest.mark.parametrize("share", [0.0, 0.2, 0.9])
def test_the_share_of_samples_with_known_frames_is_as_asked(share):
    rng = np.random.default_rng(1)
    known = [bool(known_mask(rng, 3, share).any()) for _ in range(2000)]
    assert abs(np.mean(known) - share) < 0.03


def test_ema_warms_up_then_tracks():
    model = torch.nn.Linear(2, 1)
    ema = EMA(model, decay=0.9)
    old = ema.shadow["weight"].clone()
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model, step=0)  # decay min(0.9, 1 / 10) = 0.1: mostly the new value
    assert torch.allclose(ema.shadow["weight"], 0.1 * old + 0.9)
    ema.update(model, step=1000)  # decay 0.9 from now on
    assert torch.allclose(ema.shadow["weight"], 0.9 * (0.1 * old + 0.9) + 0.1)


def test_ema_of_a_continued_model_keeps_the_trained_weights_from_the_first_step():
    model = torch.nn.Linear(2, 1)
    ema = EMA(model, decay=0.9, warmup=False)
    old = ema.shadow["weight"].clone()
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model, step=0)  # the full decay at once: mostly the trained value
    assert torch.allclose(ema.shadow["weight"], 0.9 * old + 0.1)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    tc = dataclasses.replace(train_preset("tiny"), dit_steps=4, checkpoint_every=2)
    model_dir = train(tc, out, env={})
    return tc, out, model_dir


def test_training_writes_a_model_folder_the_pipeline_loads(tiny_run):
    _, out, model_dir = tiny_run
    assert (model_dir / "config.json").is_file() and (model_dir / "model.safetensors").is_file()
    cfg, _, _ = load_model_folder(model_dir)
    assert len(cfg.vae.latent_std) == cfg.vae.latent_channels  # latent statistics travel with the model
    frames = TextToVideoPipeline.from_pretrained(model_dir)(Request("a red ball", steps=2)).frames
    assert frames.ndim == 4 and frames.dtype == np.uint8


def test_resume_is_exact(tiny_run, tmp_path):
    tc, full, _ = tiny_run
    half = tmp_path / "half"
    train(dataclasses.replace(tc, dit_steps=2), half, env={})
    train(tc, half, env={})  # same command with more steps: resumes at step 2
    a = torch.load(full / "dit_state.pt", weights_only=True)
    b = torch.load(half / "dit_state.pt", weights_only=True)
    assert a["step"] == b["step"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for k in a["ema"]:
        assert torch.equal(a["ema"][k], b["ema"][k]), k


@pytest.mark.slow
def test_ddp_two_processes_gloo(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--master_port", "29517", "-m", "kino.cli", "train",
         "--preset", "tiny", "--out", str(out), "--dit-steps", "2"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(out / "dit_state.pt", weights_only=True)
    assert state["step"] == 2
    # Both ranks built cache shards (sharded by rank) and rank 0 exported the model.
    assert len(list((out / "cache").glob("shard_*.pt"))) == 2
    assert (out / "model" / "model.safetensors").is_file()


def test_time_budget_stops_each_stage_resumably(tiny_run, tmp_path):
    tc, _, model_dir = tiny_run
    rushed = dataclasses.replace(tc, max_minutes=1e-9)  # out of time as soon as a step ends
    # In the VAE stage: no latent statistics, cache or model come from a half-trained VAE.
    out = tmp_path / "scratch"
    assert train(rushed, out, env={}) is None
    assert torch.load(out / "vae_state.pt", weights_only=True)["step"] == 1
    assert not (out / "latent_stats.json").exists() and not (out / "cache").exists()
    # In the transformer stage: a checkpoint and a model folder at the step it stopped.
    more = tmp_path / "more"
    folder = train(dataclasses.replace(rushed, init_from=str(model_dir)), more, env={})
    assert folder is not None and (folder / "model.safetensors").is_file()
    assert torch.load(more / "dit_state.pt", weights_only=True)["step"] == 1
    train(dataclasses.replace(tc, init_from=str(model_dir)), more, env={})  # the same run, no budget: resumes
    assert torch.load(more / "dit_state.pt", weights_only=True)["step"] == tc.dit_steps


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inside torch.compile
def test_compiled_training_step_matches_eager(tiny_run, tmp_path):
    tc, _, model_dir = tiny_run
    runs = {}
    for compiled in (False, True):
        out = tmp_path / str(compiled)
        train(dataclasses.replace(tc, dit_steps=2, init_from=str(model_dir), compile=compiled), out, env={})
        runs[compiled] = torch.load(out / "dit_state.pt", weights_only=True)["model"]
    start = load_model_folder(model_dir)[2].state_dict()
    for k, eager in runs[False].items():
        moved = (eager.float() - start[k].float()).abs().max()
        diff = (runs[True][k].float() - eager.float()).abs().max()
        assert diff <= 0.05 * moved + 1e-3, (k, diff, moved)  # fused kernels round differently, nothing more


def test_edge_loss_sees_blur_and_not_a_shift_in_level():
    video = torch.zeros(1, 3, 2, 16, 16)
    video[..., 4:12, 4:12] = 1.0  # a sharp square
    blurred = torch.nn.functional.avg_pool3d(video, (1, 3, 3), stride=1, padding=(0, 1, 1))
    assert edge_loss(video, video) == 0 and edge_loss(video + 0.3, video) < 1e-6
    assert edge_loss(blurred, video) > 0.01


def test_the_decoder_loss_sees_colour_spill_on_an_objects_rim():
    video = torch.full((1, 3, 1, 32, 32), 0.6)  # a light grey set
    video[:, :, :, 10:20, 10:20] = torch.tensor([-0.8, -0.6, 0.9]).view(1, 3, 1, 1, 1)  # a blue square
    assert soft_colour(video)[0, 0, 15, 15] > 0.99 and soft_colour(video)[0, 0, 2, 2] < 0.01
    rim = object_rims(video)[0, 0, 0]
    assert rim[15, 15] == 1 and rim[15, 22] == 1 and rim[15, 23] == 0  # 3 px around the colour
    spilled = video.clone()
    spilled[:, :, :, 8:22, 8:22] = video[:, :, :, 10:20, 10:20].mean((-1, -2), keepdim=True) * 0.5 + 0.3
    spilled[:, :, :, 10:20, 10:20] = video[:, :, :, 10:20, 10:20]  # the square's colour spilt 2 px, paler
    plain = train_preset("tiny")
    weighted = dataclasses.replace(plain, rim_weight=10.0, colour_weight=1.0)
    assert decoder_loss(video, video, weighted) == 0
    assert decoder_loss(spilled, video, weighted) > decoder_loss(spilled, video, plain) + 0.1


def test_decoder_crops_can_be_cut_from_longer_clips():
    """Crops of one length cut from longer clips: the same frame count, at a random time, and a
    toyworld move spread over a longer clip travels less between frames."""
    tc = dataclasses.replace(train_preset("tiny"), vae_batch=8, vae_crop=64)
    spec = ClipSpec(width=64, height=64, fps=8, seconds=1.0)
    short = vae_clips(tc, spec, np.random.default_rng(0))
    long = vae_clips(tc, spec, np.random.default_rng(0), lengths=(4.0,))
    assert short.shape == long.shape == (8, 3, 9, 64, 64)
    step = lambda v: (v[:, :, 1:] - v[:, :, :-1]).abs().mean()
    assert step(long) < step(short)


def test_decoder_fine_tune_keeps_the_latent_space(tiny_run, tmp_path):
    tc, _, model_dir = tiny_run
    tc = dataclasses.replace(tc, init_from=str(model_dir), decoder_steps=3, dit_steps=0, rim_weight=10.0,
                             colour_weight=0.5, decoder_clip_seconds=(1.0, 2.5))
    folder = train(tc, tmp_path, env={})
    assert torch.load(tmp_path / "decoder_state.pt", weights_only=True)["step"] == 3
    # The training record travels on.
    assert load_meta(folder) == load_meta(model_dir) | {"decoder_steps": "3", "rim_weight": "10.0", "colour_weight": "0.5",
                                                        "decoder_clip_seconds": "1,2.5"}
    _, vae_a, dit_a = load_model_folder(model_dir)
    _, vae_b, dit_b = load_model_folder(folder)
    changed = {k for k, v in vae_b.state_dict().items() if not torch.equal(v, vae_a.state_dict()[k])}
    assert changed and all(k.startswith("decoder.") for k in changed)  # the encoder, so the latents, unchanged
    for k, v in dit_b.state_dict().items():
        assert torch.equal(v, dit_a.state_dict()[k]), k


def test_training_continues_from_a_model_folder(tiny_run, tmp_path):
    tc, _, model_dir = tiny_run
    out = train(dataclasses.replace(tc, dit_steps=2, init_from=str(model_dir)), tmp_path / "more", env={})
    assert not (tmp_path / "more" / "vae_state.pt").exists()  # the VAE came from the folder
    _, vae_a, _ = load_model_folder(model_dir)
    _, vae_b, dit_b = load_model_folder(out)
    for (k, a), b in zip(vae_a.state_dict().items(), vae_b.state_dict().values()):
        assert torch.equal(a, b), k


def test_continuing_a_model_without_positions_grows_them(tiny_run, tmp_path):
    """v1 and v2 had no absolute positions; continuing one under a preset that has them adds the
    (zero-started) projection and trains it with the rest."""
    tc, _, model_dir = tiny_run
    cfg, vae, dit = load_model_folder(model_dir)
    old_cfg = dataclasses.replace(cfg, dit=dataclasses.replace(cfg.dit, positions=0))
    old = DiT(old_cfg.dit, cfg.vae.latent_channels)
    old.load_state_dict({k: v for k, v in dit.state_dict().items() if not k.startswith("pos_embed.")})
    save_model_folder(tmp_path / "old", old_cfg, vae, old)
    assert load_config(tmp_path / "old").dit.positions == 0
    out = train(dataclasses.replace(tc, dit_steps=2, init_from=str(tmp_path / "old")), tmp_path / "more", env={})
    assert load_config(out).dit.positions == 4
    assert load_model_folder(out)[2].pos_embed.weight.abs().sum() > 0  # trained from zero


def test_continuing_under_a_preset_with_more_text_layers_grows_them(tiny_run, tmp_path, monkeypatch):
    from kino import config

    tc, _, model_dir = tiny_run
    tiny = config.PRESETS["tiny"]
    monkeypatch.setitem(config.PRESETS, "tiny", dataclasses.replace(
        tiny, dit=dataclasses.replace(tiny.dit, text_layers=(0, -1), text_dim=2 * tiny.dit.text_dim)))
    out = train(dataclasses.replace(tc, dit_steps=2, init_from=str(model_dir)), tmp_path / "more", env={})
    assert load_config(out).dit.text_layers == (0, -1)
    text_in = load_model_folder(out)[2].text_proj[0].weight  # (D, 768): embedding layer's columns first
    assert text_in[:, :384].abs().sum() > 0  # trained from zero
    frames = TextToVideoPipeline.from_pretrained(out)(Request("a red ball on the left", steps=1, layout=False)).frames
    assert frames.ndim == 4  # the pipeline reads both layers


def test_continuing_with_text_blocks_asked_for_grows_and_trains_them(tiny_run, tmp_path):
    tc, _, model_dir = tiny_run
    out = train(dataclasses.replace(tc, dit_steps=2, init_from=str(model_dir), text_refiner=1), tmp_path / "more", env={})
    assert load_config(out).dit.text_refiner == 1
    assert load_model_folder(out)[2].text_blocks[0].attn.proj.weight.abs().sum() > 0  # trained from zero
    frames = TextToVideoPipeline.from_pretrained(out)(Request("a red ball on the left", steps=1, layout=False)).frames
    assert frames.ndim == 4


def test_text_layers_asked_for_set_the_transformers_text_width():
    from kino.training.trainer import model_preset

    cfg = model_preset(dataclasses.replace(train_preset("small"), text_layers=(0, 3, -1)))
    assert cfg.dit.text_layers == (0, 3, -1) and cfg.dit.text_dim == 3 * 384
    assert model_preset(train_preset("tiny")).dit.text_layers == (-1,)


def test_training_on_a_cache_from_before_masks_fills_them(tiny_run, tmp_path):
    tc, out, model_dir = tiny_run
    shutil.copytree(out / "cache", tmp_path / "cache")
    for path in (tmp_path / "cache").glob("shard_*.pt"):
        shard = torch.load(path, weights_only=True)
        del shard["masks"]
        torch.save(shard, path)
    train(dataclasses.replace(tc, dit_steps=1, init_from=str(model_dir)), tmp_path, env={})
    assert all("masks" in torch.load(p, weights_only=True) for p in (tmp_path / "cache").glob("shard_*.pt"))


def test_grounded_training_steers_caption_words_to_where_their_colour_is(tiny_run):
    from kino.data.datasets import LatentCache
    from kino.models.text_encoder import TextEncoder
    from kino.director.layout import STRENGTH
    from kino.training.trainer import dit_loss_fn

    tc, out, model_dir = tiny_run
    cfg, _, dit = load_model_folder(model_dir)
    cache = LatentCache(out / "cache").load()
    encoder = TextEncoder.from_pretrained(max_tokens=cfg.dit.max_text_tokens)
    seen = []

    class Spy(torch.nn.Module):  # the transformer, recording the layout bias each batch trained with
        def forward(self, *args, text_bias=None, **kw):
            seen.append(text_bias)
            return dit(*args, text_bias=text_bias, **kw)

    grounded = dataclasses.replace(tc, grounding=1.0, text_dropout=0.0, batch=4)
    for step in range(3):
        loss, _ = dit_loss_fn(grounded, cache, encoder, 0, torch.device("cpu"), cfg.dit.patch)(Spy(), step, 0)
        assert torch.isfinite(loss)
    bias = torch.cat(seen)
    assert bias.shape[1:] == (cache.latents[0, 0].numel() // 4, cfg.dit.max_text_tokens)  # (B, N, L), 2x2 patches
    steered = bias.abs().amax(1) > 0  # (B, L): words naming an object
    assert steered.any(1).all()  # every caption names an object; each is pointed at its own tokens
    assert ((bias == STRENGTH).sum(1)[steered] > 0).all() and ((bias == -STRENGTH).sum(1)[steered] > 0).all()
    seen.clear()
    dit_loss_fn(dataclasses.replace(grounded, grounding=0.0), cache, encoder, 0, torch.device("cpu"))(Spy(), 0, 0)
    assert seen == [None]


def test_the_attention_loss_is_the_share_of_each_object_words_attention_outside_its_object():
    from kino.training.trainer import attention_loss

    inside = torch.zeros(1, 4, 3)  # (B, N, L): word 1's object is on tokens 0-1; word 2's is out of view
    inside[0, :2, 1] = 1
    named = torch.tensor([[False, True, True]])
    on_it = torch.tensor([[[0.0, 0.5, 0.5], [0.0, 0.5, 0.5], [1.0, 0.0, 0.5], [1.0, 0.0, 0.5]]])
    assert float(attention_loss([on_it], inside, named)) == 0.0  # word 2 (nothing in view) and word 0 (no object) ignored
    uniform = torch.full((1, 4, 3), 1 / 3)
    assert abs(float(attention_loss([on_it, uniform], inside, named)) - 0.25) < 1e-6  # mean of 0 and 1 - 2/4
    assert float(attention_loss([uniform], torch.zeros_like(inside), named)) == 0.0  # no object word in view


def test_training_with_the_attention_loss_adds_it(tiny_run):
    from kino.data.datasets import LatentCache
    from kino.models.text_encoder import TextEncoder
    from kino.training.trainer import dit_loss_fn

    tc, out, model_dir = tiny_run
    cfg, _, dit = load_model_folder(model_dir)
    for p in dit.parameters():  # attention that is not yet on the objects
        torch.nn.init.normal_(p, std=0.05)
    cache = LatentCache(out / "cache").load()
    encoder = TextEncoder.from_pretrained(max_tokens=cfg.dit.max_text_tokens)
    base = dataclasses.replace(tc, grounding=0.0, text_dropout=0.0, batch=4)
    loss = lambda weight: float(dit_loss_fn(dataclasses.replace(base, attention_loss=weight), cache, encoder, 0,
                                            torch.device("cpu"), cfg.dit.patch)(dit, 0, 0)[0].detach())
    plain, with_attention = loss(0.0), loss(1.0)
    assert 0.05 < with_attention - plain <= 1.0
    assert all(block.cross.maps is None for block in dit.blocks)


def test_a_new_transformer_over_a_folders_vae_on_some_kinds_of_scene(tiny_run, tmp_path):
    import json

    from kino.data.datasets import LatentCache

    tc, _, model_dir = tiny_run
    out = train(dataclasses.replace(tc, dit_steps=2, vae_from=str(model_dir), kinds=("color", "place"), time_shift=3.0),
                tmp_path / "small", env={})
    assert not (tmp_path / "small" / "vae_state.pt").exists()  # the VAE came from the folder, frozen
    _, vae_a, dit_a = load_model_folder(model_dir)
    _, vae_b, dit_b = load_model_folder(out)
    for (k, a), b in zip(vae_a.state_dict().items(), vae_b.state_dict().values()):
        assert torch.equal(a, b), k
    assert not torch.equal(dit_a.state_dict()["patch_in.weight"], dit_b.state_dict()["patch_in.weight"])  # trained anew
    cache = LatentCache(tmp_path / "small" / "cache")
    cache.load()
    kinds = {json.loads(s)["kind"] for shard in sorted(cache.folder.glob("shard_*.pt"))
             for s in torch.load(shard, weights_only=False)["scenes"]}
    assert kinds <= {"color", "place"} and kinds
