"""Binding, isolated from toyworld's pictures: can kino's DiT (the `small` preset's size) learn from
MiniLM captions WHICH colour goes WHERE, when each of two objects' places is said in its own sentence?

Synthetic latents (4 channels, 16 x 16, one frame): one or two 4 x 4 blobs, each colour a channel of
its own (default) or a +-1 code over all four (--codes), at 4 places (left, right, top, bottom) or
toyworld's 9 (--places9), on a flat or a smooth random background (--texture). Captions are short
("a red ball on the left. a blue ball on the top.") or toyworld-like (--long: style, size, shape,
"stays still", relation sentences). A quarter of the two-object (colours, places) combinations never
appear in training. Trained with kino's flow loss and time shift, sampled with Euler (20 steps,
guidance 4); read back: each named colour's centroid, and the nearest place to it.
"bound": every colour at its own place; "places right ignoring colour": the set of places right.

--toy N trains on N of toyworld's own renders instead (still, 128 px, the nine cells, jittered inside
them), encoded by the shipped VAE to 16 channels and captioned by toyworld's captions, and reads the
samples back from decoded pixels with toyworld's colour rule; its options step from there towards
the synthetic blobs (--plain, --uniform, --size, --probe-captions, --latent-scale) or on towards
toyworld's training data (--shapes, --styles, --variants, --frames).

usage: python tools/research/binding_probe.py STEPS [--long] [--codes] [--places9] [--texture A]
       [--refiner N] [--att W] [--layers 0,-1] [--shift S] [--seed S] [--toy N ...]
Results: NOTES.md, sessions 21 and 22. About 0.3 s a step on one thread of a 2-core CPU (--toy: 0.4 s,
and about a minute to render and encode 2,048 pictures)."""
import argparse
import itertools
import time
import zlib

import numpy as np
import torch
from kino.config import DiTConfig
from kino.flow.rectified_flow import (
    flow_loss,
    interpolate,
    sample_time_logit_normal,
    time_shift,
)
from kino.models.dit import DiT
from kino.models.text_encoder import TextEncoder
from kino.training.trainer import attention_loss

ap = argparse.ArgumentParser()
ap.add_argument("steps", type=int)
ap.add_argument("--refiner", type=int, default=0)
ap.add_argument("--att", type=float, default=0.0)
ap.add_argument("--att-tmin", type=float, default=0.0)
ap.add_argument("--layers", default="0,-1")
ap.add_argument("--shift", type=float, default=3.0)
ap.add_argument("--width", type=int, default=128)
ap.add_argument("--depth", type=int, default=4)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--template", default="dot")
ap.add_argument("--long", action="store_true", help="toyworld-like captions: style, sizes, shapes, 'stays still', relations")
ap.add_argument("--codes", action="store_true", help="colours as codes over shared channels, not a channel each")
ap.add_argument("--places9", action="store_true", help="toyworld's nine places (top left ... bottom right)")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--texture", type=float, default=0.0, help="a random smooth background of this amplitude per clip")
ap.add_argument("--toy", type=int, default=0,
                help="toyworld's own pictures instead: this many renders (9 places, medium circles), encoded by the "
                     "shipped VAE to 16 channels; read back from decoded pixels with toyworld's colour rule")
ap.add_argument("--shapes", action="store_true", help="--toy: random shapes and sizes")
ap.add_argument("--variants", action="store_true",
                help="--toy: train on toyworld's own five captions of each render, not only its longest")
ap.add_argument("--frames", type=int, default=1, help="--toy: frames a render (1, or 1 + 4k: k + 1 latent frames)")
ap.add_argument("--styles", action="store_true", help="--toy: cartoon or realistic (else cartoon only)")
ap.add_argument("--plain", action="store_true", help="--toy: no background dots")
ap.add_argument("--uniform", action="store_true", help="--toy: one grey everywhere (no dots, no horizon)")
ap.add_argument("--probe-captions", action="store_true",
                help="--toy: the probe's own caption of each (colour, place) set (--long for its toyworld-like one), "
                     "one wording a set, instead of toyworld's")
ap.add_argument("--latent-scale", type=float, default=1.0,
                help="--toy: the VAE's latents times this for the transformer (decoded divided by it again)")
ap.add_argument("--size", default="medium", choices=["small", "medium", "big"], help="--toy: objects' size")
ap.add_argument("--dump", help="--toy: a PNG of the first 12 held-out samples (seed 0), captions beside it")
ap.add_argument("--object-weight", type=float, default=0.0,
                help="--toy: velocity loss weight 1 + this on latent cells holding an object, as `kino train` has it")
a = ap.parse_args()
if a.toy and a.att:
    ap.error("--att needs the synthetic latents' word masks; not with --toy")
if a.toy:
    a.places9 = True
torch.manual_seed(a.seed)
layers = tuple(int(x) for x in a.layers.split(","))
cfg = DiTConfig(width=a.width, depth=a.depth, heads=4, patch=(1, 2, 2), positions=4, text_dim=384 * len(layers),
                text_layers=layers, text_refiner=a.refiner, max_text_tokens=64 if a.toy else 32)
C, T, H, W = (16, (a.frames - 1) // 4 + 1, 16, 16) if a.toy else (4, 1, 16, 16)
dit = DiT(cfg, latent_channels=C)
te = TextEncoder.from_pretrained(max_tokens=cfg.max_text_tokens, layers=layers, dtype=torch.float32)
colours = ["red", "green", "blue", "yellow"]
centre = {"left": (8, 4), "right": (8, 12), "top": (4, 8), "bottom": (12, 8)}
if a.places9:
    centre = {f"{v} {h}".replace("middle middle", "middle").replace("middle left", "left").replace("middle right", "right")
              .replace("top middle", "top").replace("bottom middle", "bottom"): (y, x)
              for v, y in (("top", 4), ("middle", 8), ("bottom", 12)) for h, x in (("left", 4), ("middle", 8), ("right", 12))}


STYLE = ["A cartoon: ", "A realistic render: "]
SHAPE = ["ball", "square", "triangle"]
SIZE = ["", "big ", "small "]
CODE = {"red": (1, -1, 1, -1), "green": (-1, 1, 1, -1), "blue": (-1, -1, -1, 1), "yellow": (1, 1, -1, -1)}


places = list(centre)


def say(p):
    return {"left": "on the left", "right": "on the right", "top": "at the top center", "bottom": "at the bottom center",
            "middle": "in the middle"}.get(p, f"at the {p}")


def caption(objs):
    if a.long:
        h = zlib.crc32(repr(objs).encode()) % 997
        words = [f"{SIZE[(h + i) % 3]}{c} {SHAPE[(h // 3 + i) % 3]}" for i, (c, p) in enumerate(objs)]
        text = STYLE[h % 2] + ". ".join(f"a {w} {say(p)} stays still" for w, (c, p) in zip(words, objs))
        text = text[0] + text[1:].replace(". a ", ". A ") + "."
        (y0, x0), (y1, x1) = (centre[p] for _, p in objs) if len(objs) == 2 else ((0, 0), (0, 0))
        if len(objs) == 2 and x0 != x1:
            n0, n1 = (w.split()[-2] + " " + w.split()[-1] for w in words)
            text += f" The {n0} is to the {'left' if x0 < x1 else 'right'} of the {n1}."
        if len(objs) == 2 and y0 != y1:
            n0, n1 = (w.split()[-2] + " " + w.split()[-1] for w in words)
            text += f" The {n0} is {'above' if y0 < y1 else 'below'} the {n1}."
        return text
    if a.template == "and" and len(objs) == 2:
        return f"a {objs[0][0]} ball on the {objs[0][1]} and a {objs[1][0]} ball on the {objs[1][1]}"
    return ". ".join(f"a {c} ball on the {p}" for c, p in objs) + "."


two = [((c1, p1), (c2, p2)) for c1, c2 in itertools.permutations(colours, 2) for p1, p2 in itertools.permutations(places, 2)]
rng0 = np.random.default_rng(1)
held = set(rng0.choice(len(two), size=len(two) // 4, replace=False).tolist())
train_sets = [tuple(o) for i, o in enumerate(two) if i not in held] + [((c, p),) for c in colours for p in places]
test_sets = [two[i] for i in sorted(held)]
seen_sets = [two[i] for i in range(len(two)) if i not in held]
caps = {s: caption(s) for s in train_sets + test_sets}
enc = {}
for s, cap in caps.items():
    text, mask = te([cap])
    enc[s] = (text, mask)
empty = te([""])


def word_index(cap):
    """Token index of each colour word in the caption (the word naming an object)."""
    offs = te.offsets(cap)
    out = {}
    for i, (s, e) in enumerate(offs):
        if cap[s:e] in colours and cap[s:e] not in out:  # the first mention names the object
            out[cap[s:e]] = i
    return out


def toy_cells(p):
    """Probe place name -> toyworld cell (x zone, y zone)."""
    v, h = (p.split() + [""])[:2] if " " in p else ((p, "middle") if p in ("top", "bottom") else ("middle", p))
    return h, v


if a.toy:
    from kino.data import toyworld
    from kino.data.toyworld import scene as tw
    from kino.data.toyworld.readback import PALETTE, color_masks
    from kino.models.folder import load_model_folder

    _, vae, _ = load_model_folder("src/kino/checkpoints/toyworld")
    vae.eval()
    import importlib
    _render = importlib.import_module("kino.data.toyworld.render")  # the module, not the function
    if a.plain:
        _render.dots = lambda gx, gy, density, seed: np.zeros((len(gy), len(gx)), np.float32)
    if a.uniform:
        _render._backdrop = lambda scene, k, gx, gy, *rest: np.full((len(gy), len(gx)), 200, np.uint8)

    def render(objs, rng):
        """A toyworld render of these (colour, place) objects, still, jittered inside their cells."""
        for _ in range(100):
            obs = tuple(tw.Obj(i, c, str(rng.choice(tw.SHAPES)) if a.shapes else "circle",
                               str(rng.choice(list(tw.SIZES))) if a.shapes else a.size) for i, (c, _) in enumerate(objs))
            actors = []
            for i, (_, p) in enumerate(objs):
                h, v = toy_cells(p)
                actors.append(tw.Actor(i, float(rng.uniform(*tw._XZ[h])), float(rng.uniform(*tw._YZ[v]))))
            scene = tw.Scene(str(rng.choice(tw.STYLES)) if a.styles else "cartoon", obs, (tw.Shot(tuple(actors)),),
                             seconds=(a.frames - 1) / 8, seed=int(rng.integers(2**31)), kind="place")
            boxes = tw._boxes(scene, scene.shots[0], 0.0, 1.0)  # rendered square: apart at aspect 1 is enough
            if len(boxes) < 2 or max(boxes[1][0] - boxes[0][1], boxes[0][0] - boxes[1][1],
                                     boxes[1][2] - boxes[0][3], boxes[0][2] - boxes[1][3]) >= tw.GAP:
                frames = toyworld.render(scene, width=128, height=128, fps=8)
                variants = toyworld.captions(scene, np.random.default_rng(int(rng.integers(2**31))))
                return frames, variants
        raise RuntimeError(f"no layout fits {objs}")

    def longest(variants):
        return max(variants, key=lambda v: (v.count("."), len(v)))

    @torch.no_grad()
    def encode(frames):
        x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
        return vae.encode(x)[0].numpy() * a.latent_scale

    t0 = time.time()
    rng_toy = np.random.default_rng(a.seed + 100)
    toy = {s: [] for s in train_sets}
    for i in range(a.toy):
        s = train_sets[i % len(train_sets)]
        frames, variants = render(s, rng_toy)
        cells = (color_masks(frames) >= 0).reshape(len(frames), H, 8, W, 8).any((2, 4))[[0]]  # frame 0's cells
        toy[s].append((encode(frames), variants, np.repeat(cells, T, 0)))
    tests = {s: render(s, np.random.default_rng(zlib.crc32(repr(s).encode()))) for s in test_sets + seen_sets}
    if not a.probe_captions:
        caps.update({s: longest(v) for s, (_, v) in tests.items()})
    enc.update({s: te([caps[s]]) for s in tests})
    print(f"{a.toy} toyworld renders encoded in {time.time() - t0:.0f}s; e.g. {caps[test_sets[0]]!r}", flush=True)


_encoded = {}


@torch.no_grad()
def encoded(caption):
    """The caption's token states, kept in bf16 (toyworld's renders have thousands of captions)."""
    if caption not in _encoded:
        text, mask = te([caption])
        _encoded[caption] = (text.bfloat16(), mask)
    return _encoded[caption]


def make(objs, rng):
    if a.toy:
        x, variants, cells = toy[objs][rng.integers(len(toy[objs]))]
        if a.probe_captions:
            return x, cells, caps[objs]
        return x, cells, variants[rng.integers(len(variants))] if a.variants else longest(variants)
    x = np.full((C, T, H, W), 0.0 if a.codes else -1.0, np.float32)  # the background
    if a.texture:
        low = rng.standard_normal((C, 1, 4, 4)).astype(np.float32) * a.texture
        x += np.kron(low, np.ones((1, 1, 4, 4), np.float32))
    inside = np.zeros((H // 2 * W // 2, 32), bool)
    widx = word_index(caps[objs])
    for c, p in objs:
        cy, cx = centre[p]
        cy += rng.integers(-1, 2); cx += rng.integers(-1, 2)
        ch = colours.index(c)
        if a.codes:
            x[:, :, cy - 2: cy + 2, cx - 2: cx + 2] = np.array(CODE[c], np.float32)[:, None, None, None]
        else:
            x[ch, :, cy - 2: cy + 2, cx - 2: cx + 2] = 1.0
        cell = np.zeros((H, W), bool); cell[cy - 2: cy + 2, cx - 2: cx + 2] = True
        tok = cell.reshape(H // 2, 2, W // 2, 2).any((1, 3)).reshape(-1)
        inside[:, widx[c]] = tok
    return x, inside


opt = torch.optim.AdamW(dit.parameters(), lr=a.lr)
rng = np.random.default_rng(a.seed)
t0 = time.time()
for step in range(a.steps):
    sets = [train_sets[i] for i in rng.integers(len(train_sets), size=32)]
    made = [make(s, rng) for s in sets]
    x0 = torch.from_numpy(np.stack([m[0] for m in made]))
    drop = rng.random(32) < 0.1
    if a.toy:
        text, mask = (torch.cat(z) for z in zip(*(encoded("" if d else m[2]) for m, d in zip(made, drop))))
        text = text.float()
    else:
        text = torch.cat([empty[0] if d else enc[s][0] for s, d in zip(sets, drop)])
        mask = torch.cat([empty[1] if d else enc[s][1] for s, d in zip(sets, drop)])
    noise = torch.randn_like(x0)
    t = time_shift(sample_time_logit_normal(32), a.shift)
    if a.att:
        with dit.cross_attention_maps() as maps:
            v = dit(interpolate(x0, noise, t), t, text, mask)
        inside = torch.from_numpy(np.stack([m[1] for m in made])).float()
        named = torch.zeros(32, 32, dtype=torch.bool)
        for b, (s, d) in enumerate(zip(sets, drop)):
            if not d:
                for i in word_index(caps[s]).values():
                    named[b, i] = True
        named &= (t >= a.att_tmin)[:, None]
        loss = flow_loss(v, x0, noise) + a.att * attention_loss(maps, inside, named)
    else:
        v = dit(interpolate(x0, noise, t), t, text, mask)
        weight = None
        if a.object_weight:
            weight = 1 + a.object_weight * torch.from_numpy(np.stack([m[1] for m in made]))[:, None].float()
        loss = flow_loss(v, x0, noise, weight)
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 250 == 0:
        print(f"step {step} loss {loss.item():.3f} {time.time()-t0:.0f}s", flush=True)
print(f"trained {a.steps} steps in {time.time()-t0:.0f}s")
dit.eval()


def cells_occupied(labels):
    """Toyworld's cells (probe place names) holding the most coloured pixels, any colour: the two most
    covered of the nine 3 x 3 windows, each only when it holds at least 20 pixels."""
    share = {q: (labels[max(0, int(centre[q][0] * 8) - 20): int(centre[q][0] * 8) + 20,
                        max(0, int(centre[q][1] * 8) - 20): int(centre[q][1] * 8) + 20] >= 0).sum() for q in places}
    return {q for q in sorted(share, key=share.get)[-2:] if share[q] >= 20}


shown = []


def score(sets, seeds=2):
    placed = bound = total = anywhere = 0
    with torch.no_grad():
        for s in sets:
            for seed in range(seeds):
                x = torch.randn(1, C, T, H, W, generator=torch.Generator().manual_seed(seed))
                ts = time_shift(torch.linspace(1, 0, 21), 1.5)
                for ta, tb in itertools.pairwise(ts):
                    vc = dit(x, ta[None], *enc[s]); vu = dit(x, ta[None], *empty)
                    x = x + (tb - ta) * (vu + 4 * (vc - vu))
                ok_all = True
                got_places = []
                if a.toy:
                    with torch.no_grad():
                        px = ((vae.decode(x / a.latent_scale)[0, :, 0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
                    labels = color_masks(px[None])[0]
                    anywhere += cells_occupied(labels) == {p for _, p in s}
                    if seed == 0 and len(shown) < 12:
                        shown.append((px, caps[s]))
                for c, p in s:
                    if a.toy:  # decoded pixels of this colour, and toyworld's cell centres (y, x) on a 16 grid
                        m = (labels == PALETTE.index(c)).astype(np.float32)
                        m = m.reshape(H, 8, W, 8).sum((1, 3)) if m.sum() >= 20 else np.zeros((H, W), np.float32)
                    elif a.codes:  # how much each cell reads as this colour's code
                        code = torch.tensor(CODE[c], dtype=torch.float32)
                        m = np.clip((x[0, :, 0] * code[:, None, None]).sum(0).numpy() - 2.0, 0, None)
                    else:
                        m = np.clip(x[0, colours.index(c), 0].numpy(), 0, None)
                    ys, xs = np.mgrid[:H, :W]
                    if m.sum() < 1e-3:
                        ok_all = False; got_places.append(None); continue
                    cx, cy = (xs * m).sum() / m.sum(), (ys * m).sum() / m.sum()
                    d = {q: (cy - centre[q][0]) ** 2 + (cx - centre[q][1]) ** 2 for q in places}
                    got = min(d, key=d.get)
                    got_places.append(got)
                    ok_all &= got == p
                bound += ok_all
                placed += sorted(g or "" for g in got_places) == sorted(p for _, p in s)
                total += 1
    return bound, placed, anywhere, total


for name, sets in (("held-out pairs", test_sets[:48]), ("seen pairs", seen_sets[:36])):
    b, p, o, n = score(sets)
    print(f"{name}: bound {b}/{n}  places right ignoring colour {p}/{n}" +
          (f"  objects at the two places, any colour {o}/{n}" if a.toy else ""))
if a.dump and shown:
    from PIL import Image
    Image.fromarray(np.concatenate([np.concatenate([px for px, _ in shown[i:i + 6]], 1)
                                    for i in range(0, 12, 6)], 0)).save(a.dump)
    print("\n".join(f"{i}: {c}" for i, (_, c) in enumerate(shown)))
