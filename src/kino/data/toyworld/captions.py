"""What a toyworld scene shows, as checkable claims and as captions made from them.

`claims(scene)` lists every fact a caption may state, each one readable back from the
pixels (`readback.check`). Captions only ever put those claims into words, so every
caption is true of the render; places and relations are only claimed with a margin
beyond the contract's thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from kino.data.toyworld.scene import DIRECTIONS, Actor, Obj, Scene, pose

# Places and relations are claimed only this far inside the contract's thresholds.
PLACE_MARGIN = 0.05
RELATION_MIN = 0.13  # contract: 0.1


@dataclass(frozen=True)
class Claim:
    """One checkable fact. Objects are named by colour (one description per colour).

    kind      meaning
    color     an object of `color` is seen
    count     there are `count` objects of `color` (and `shape`)
    shape     the `count` objects of `color` are `shape`s
    size      the objects of `color` are `size`
    place     the object of `color` is at `value` (left/middle/right/top/bottom) at `when`
              (the shot's start / middle / end frame)
    relation  `color` is `value` (left_of/right_of/above/below) of `other`, middle frame
    motion    the objects of `color` do `value` (one of scene.MOTIONS)
    order     first `color` moves `value`, then `other` moves `other_value`
    hit_turn  `color` hits `other`, which turns `value`
    push      `color` pushes `other`
    bite      `color` bites `other`
    behind    `color` passes behind `other`
    camera    the camera does `value` (one of scene.CAMERAS)
    style     the style is `value`
    cuts      the clip has `count` hard cuts (`shot` unused)
    """

    kind: str
    color: str = ""
    shape: str = ""
    size: str = ""
    count: int = 1
    other: str = ""
    value: str = ""
    other_value: str = ""
    when: str = ""
    shot: int = 0


# ---------------------------------------------------------------------------------------
# Facts: the scene seen through the contract, one shot at a time.


@dataclass
class _Group:
    obj: Obj
    actors: list[Actor]
    motion: str = ""
    place: tuple[str | None, str | None] = (None, None)  # at the middle frame (static objects)
    start: tuple[str | None, str | None] = (None, None)  # movers
    end: tuple[str | None, str | None] = (None, None)
    in_event: bool = False

    @property
    def count(self) -> int:
        return len(self.actors)


@dataclass
class _Facts:
    groups: list[_Group]
    relations: list[tuple[str, str, str]] = field(default_factory=list)  # (colour, rel, colour)
    events: list = field(default_factory=list)
    camera: str = "still"


def _place_names(x: float, y: float) -> tuple[str | None, str | None]:
    m = PLACE_MARGIN
    xn = "left" if x < 0.4 - m else "right" if x > 0.6 + m else "middle" if 0.35 + m < x < 0.65 - m else None
    yn = "top" if y < 0.4 - m else "bottom" if y > 0.6 + m else None
    return xn, yn


_MOVING = {*DIRECTIONS, "falls", "bounces"}


def _facts(scene: Scene, k: int) -> _Facts:
    shot = scene.shots[k]
    involved = {i for e in shot.events if e.kind != "order" for i in (e.a, e.b)}
    by_color: dict[str, _Group] = {}
    for actor in shot.actors:
        obj = scene.objects[actor.obj]
        if obj.color in by_color:
            by_color[obj.color].actors.append(actor)
        else:
            by_color[obj.color] = _Group(obj, [actor])
    groups = list(by_color.values())
    for g in groups:
        motions = {a.motion for a in g.actors}
        g.motion = motions.pop() if len(motions) == 1 else ""
        g.in_event = any(a.obj in involved for a in g.actors)
        if g.count != 1 or g.in_event:
            continue
        a = g.actors[0]
        if g.motion in _MOVING:
            p0, p1 = pose(scene, shot, a, 0.0), pose(scene, shot, a, 1.0)
            g.start, g.end = _place_names(p0.x, p0.y), _place_names(p1.x, p1.y)
        else:
            p = pose(scene, shot, a, 0.5)
            g.place = _place_names(p.x, p.y)
    facts = _Facts(groups, events=list(shot.events), camera=shot.camera)
    static = [g for g in groups if g.count == 1 and not g.in_event and g.motion not in _MOVING]
    for i, ga in enumerate(static):
        for gb in static[i + 1 :]:
            pa = pose(scene, shot, ga.actors[0], 0.5)
            pb = pose(scene, shot, gb.actors[0], 0.5)
            if abs(pa.x - pb.x) >= RELATION_MIN:
                facts.relations.append((ga.obj.color, "left_of" if pa.x < pb.x else "right_of", gb.obj.color))
            if abs(pa.y - pb.y) >= RELATION_MIN:
                facts.relations.append((ga.obj.color, "above" if pa.y < pb.y else "below", gb.obj.color))
    return facts


def claims(scene: Scene) -> list[Claim]:
    """Every checkable fact about the scene."""
    out = [Claim("cuts", count=len(scene.shots) - 1)]
    for k, shot in enumerate(scene.shots):
        f = _facts(scene, k)
        out += [Claim("style", value=scene.style, shot=k), Claim("camera", value=f.camera, shot=k)]
        for g in f.groups:
            o, n = g.obj, g.count
            out += [
                Claim("color", o.color, shot=k),
                Claim("count", o.color, o.shape, count=n, shot=k),
                Claim("shape", o.color, o.shape, count=n, shot=k),
                Claim("size", o.color, size=o.size, count=n, shot=k),
            ]
            if g.motion:
                out.append(Claim("motion", o.color, count=n, value=g.motion, shot=k))
            for when, names in (("middle", g.place), ("start", g.start), ("end", g.end)):
                out += [Claim("place", o.color, value=v, when=when, shot=k) for v in names if v]
        out += [Claim("relation", a, other=b, value=rel, shot=k) for a, rel, b in f.relations]
        color = {o.id: o.color for o in scene.objects}
        motion = {a.obj: a for a in shot.actors}
        for e in f.events:
            if e.kind == "order":
                va, vb = motion[e.a].motion, motion[e.b].motion
                out.append(Claim("order", color[e.a], other=color[e.b], value=va, other_value=vb, shot=k))
            else:
                out.append(Claim(e.kind, color[e.a], other=color[e.b], value=e.color, shot=k))
    return out


# ---------------------------------------------------------------------------------------
# Words.

_NOUNS = {"circle": ["ball", "circle"], "square": ["square", "box", "block"], "triangle": ["triangle"]}
_PLURALS = {"ball": "balls", "circle": "circles", "square": "squares", "box": "boxes", "block": "blocks"}
_SIZE_WORDS = {"small": ["small", "little"], "medium": [""], "big": ["big", "large"]}
_NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven"]
_MOTION_WORDS = {
    "right": ["moves right", "moves to the right", "slides rightward", "glides to the right", "travels right"],
    "left": ["moves left", "moves to the left", "slides leftward", "glides to the left", "travels left"],
    "up": ["moves up", "rises", "floats upward", "goes up", "moves upward"],
    "down": ["moves down", "sinks", "drifts downward", "goes down", "moves downward"],
    "falls": ["falls", "drops", "falls down"],
    "bounces": ["bounces", "bounces up and down", "keeps bouncing"],
    "still": ["stays still", "does not move", "stays put", "sits still", "rests in place"],
    "grows": ["grows", "gets bigger", "grows larger", "swells up"],
    "shrinks": ["shrinks", "gets smaller", "shrinks down"],
    "spins": ["spins", "rotates", "spins around", "turns around in place"],
}
_ROLLS = {"right": ["rolls to the right", "rolls right"], "left": ["rolls to the left", "rolls left"]}
_X_WORDS = {
    "left": ["on the left", "on the left side", "at the left"],
    "right": ["on the right", "on the right side", "at the right"],
    "middle": ["in the middle", "in the center", "in the centre"],
}
_Y_WORDS = {"top": ["at the top", "near the top"], "bottom": ["at the bottom", "near the bottom"]}
_RELATION_WORDS = {
    "left_of": ["is to the left of", "is left of", "is on the left of"],
    "right_of": ["is to the right of", "is right of", "is on the right of"],
    "above": ["is above", "is higher than"],
    "below": ["is below", "is lower than"],
}
_CONVERSE = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}
_CAMERA_WORDS = {
    "pan-right": ["the camera pans right", "the camera pans to the right", "the view pans right"],
    "pan-left": ["the camera pans left", "the camera pans to the left", "the view pans left"],
    "zoom-in": ["the camera zooms in", "the camera slowly zooms in", "the view zooms in"],
    "zoom-out": ["the camera zooms out", "the camera slowly zooms out", "the view zooms out"],
}
_STYLE_WORDS = {
    "cartoon": ["A cartoon: ", "Cartoon style. ", "A flat cartoon animation: ", "In a cartoon style, "],
    "realistic": ["A realistic render: ", "Realistic style. ", "A realistic 3D scene: ", "In a realistic style, "],
}


class _Words:
    """Word choices: random with an rng, the first option of each list without one."""

    def __init__(self, rng: np.random.Generator | None):
        self.rng = rng

    def pick(self, options: Sequence[str]) -> str:
        return options[0] if self.rng is None else options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return p >= 1 if self.rng is None else bool(self.rng.random() < p)


def _plural_verb(phrase: str) -> str:
    head, _, rest = phrase.partition(" ")
    head = {"does": "do", "goes": "go", "is": "are"}.get(head, head[:-1] if head.endswith("s") else head)
    return f"{head} {rest}".strip()


def _noun(w: _Words, obj: Obj, count: int, *, article: str, size: bool) -> str:
    noun = w.pick(_NOUNS[obj.shape])
    if count > 1:
        noun = _PLURALS.get(noun, noun + "s")
    words = [w.pick(_SIZE_WORDS[obj.size]) if size else "", obj.color, noun]
    if article == "the":
        lead = "the" if count == 1 else f"the {_NUMBERS[count]}"
    elif count > 1 or article == "one":
        lead = _NUMBERS[count]
    else:
        lead = "a"
    return " ".join(x for x in [lead, *words] if x)


def _motion(w: _Words, obj: Obj, motion: str, count: int) -> str:
    options = _MOTION_WORDS[motion] + (_ROLLS.get(motion, []) if obj.shape == "circle" else [])
    phrase = w.pick(options)
    return phrase if count == 1 else _plural_verb(phrase)


def _place(w: _Words, names: tuple[str | None, str | None]) -> str:
    xn, yn = names
    if xn and yn:
        side = "center" if xn == "middle" else xn
        return w.pick([f"at the {yn} {side}", f"in the {yn} {side}"])
    if xn:
        return w.pick(_X_WORDS[xn])
    return w.pick(_Y_WORDS[yn]) if yn else ""


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _group_clause(w: _Words, g: _Group, detail: int, kind: str, known: bool) -> tuple[str, bool]:
    """A clause about one group, and whether it has a verb."""
    place_p = 1.0 if kind == "place" or detail >= 2 else (0.6 if detail == 1 else 0.0)
    article = "the" if known else ("one" if kind == "count" and w.chance(0.5) else "a")
    size = known or detail >= 1 or kind == "count" or w.chance(0.5)
    np_ = _noun(w, g.obj, g.count, article=article, size=size)
    motion = g.motion
    if motion in _MOVING:
        verb = _motion(w, g.obj, motion, g.count)
        start = _place(w, g.start) if w.chance(place_p) and any(g.start) else ""
        end = _place(w, g.end) if w.chance(place_p * 0.7) and any(g.end) else ""
        if start and end and w.chance(0.5):
            return f"{np_} {verb}, from {start.split(' ', 1)[1]} to {end.split(' ', 1)[1]}", True
        text = f"{np_} starts {start} and {verb}" if start else f"{np_} {verb}"
        return (f"{text} and ends up {end}" if end else text), True
    place = _place(w, g.place) if w.chance(place_p) else ""
    text = f"{np_} {place}".strip()
    if motion and (motion != "still" or detail >= 2 or w.chance(0.3)):
        return f"{text} {_motion(w, g.obj, motion, g.count)}", True
    if known and place:  # "the red ball is on the left"
        return f"{np_} {'is' if g.count == 1 else 'are'} {place}", True
    return text, False


def _event_clause(w: _Words, scene: Scene, k: int, e, detail: int, known: set[str]) -> str:
    shot = scene.shots[k]
    a, b = scene.objects[e.a], scene.objects[e.b]
    size = detail >= 1
    na = _noun(w, a, 1, article="the" if a.color in known else "a", size=size)
    nb = _noun(w, b, 1, article="the" if b.color in known else "a", size=size)
    tb = _noun(w, b, 1, article="the", size=False)
    motion = {x.obj: x.motion for x in shot.actors}
    if e.kind == "order":
        va, vb = _motion(w, a, motion[e.a], 1), _motion(w, b, motion[e.b], 1)
        return w.pick([f"first {na} {va}, then {nb} {vb}", f"{na} {va} first, and then {nb} {vb}"])
    if e.kind == "hit_turn":
        move = _motion(w, a, motion[e.a], 1)
        return w.pick(
            [
                f"{na} hits {nb} and {tb} turns {e.color}",
                f"{na} {move} and hits {nb}, which turns {e.color}",
                f"{na} hits {nb}; {tb} turns {e.color}",
            ]
        )
    if e.kind == "push":
        d = motion[e.a]
        return w.pick([f"{na} pushes {nb}", f"{na} pushes {nb} to the {d}", f"{na} moves {d} and pushes {nb} along"])
    if e.kind == "bite":
        return w.pick([f"{na} bites {nb}", f"{na} takes a bite out of {nb}", f"{na} bites {nb}, leaving a bite mark"])
    move = _motion(w, a, motion[e.a], 1)
    return w.pick([f"{na} passes behind {nb}", f"{na} {move}, passing behind {nb}", f"{na} slides behind {nb}"])


def _shot_text(w: _Words, scene: Scene, k: int, detail: int, flip: bool, known: set[str]) -> str:
    f = _facts(scene, k)
    kind = scene.kind
    in_events = {c for e in f.events for c in (scene.objects[e.a].color, scene.objects[e.b].color)}
    alone = [g for g in f.groups if g.obj.color not in in_events]  # event clauses introduce the others
    clauses = [_group_clause(w, g, detail, kind, g.obj.color in known) for g in alone]
    if len(clauses) > 1 and not any(verb for _, verb in clauses):  # "a red ball and two blue boxes"
        sentences = [", ".join(c for c, _ in clauses[:-1]) + " and " + clauses[-1][0]]
    else:
        sentences = [c for c, _ in clauses]
    sentences += [_event_clause(w, scene, k, e, detail, known) for e in f.events]
    rel_p = 1.0 if detail >= 2 else (0.8 if kind == "relation" else 0.0)
    names = {g.obj.color: g.obj for g in f.groups}
    for a, rel, b in f.relations:
        if not w.chance(rel_p):
            continue
        if flip:
            a, rel, b = b, _CONVERSE[rel], a
        na = _noun(w, names[a], 1, article="the", size=False)
        nb = _noun(w, names[b], 1, article="the", size=False)
        sentences.append(f"{na} {w.pick(_RELATION_WORDS[rel])} {nb}")
    if f.camera != "still":
        sentences.append(w.pick(_CAMERA_WORDS[f.camera]))
    known.update(g.obj.color for g in f.groups)
    return " ".join(_sentence(s) for s in sentences)


def _text(w: _Words, scene: Scene, detail: int, flip: bool, style: bool) -> str:
    known: set[str] = set()
    shots = [_shot_text(w, scene, k, detail, flip, known) for k in range(len(scene.shots))]
    body = shots[0] if len(shots) == 1 else " ".join(f"Shot {k + 1}: {t}" for k, t in enumerate(shots))
    if not style:
        return body
    lead = w.pick(_STYLE_WORDS[scene.style])
    if lead.endswith(" ") and not lead.endswith(". ") and not body.startswith("Shot"):
        body = body[0].lower() + body[1:]
    return lead + body


def describe(scene: Scene) -> str:
    """The canonical detailed caption of a scene."""
    return _text(_Words(None), scene, detail=2, flip=False, style=True)


def captions(scene: Scene, rng: np.random.Generator) -> list[str]:
    """Several true captions, short to detailed, in varied wording.

    Relations appear both ways round across the set ("A left of B", "B right of A").
    """
    w = _Words(rng)
    style_p = 1.0 if scene.kind == "style" else 0.4
    out = [
        _text(w, scene, 0, False, w.chance(style_p)),
        _text(w, scene, 0, False, w.chance(style_p)),
        _text(w, scene, 1, bool(w.chance(0.5)), w.chance(style_p)),
        _text(w, scene, 2, False, w.chance(style_p)),
        _text(w, scene, 2, True, w.chance(style_p)),
    ]
    return list(dict.fromkeys(out))
