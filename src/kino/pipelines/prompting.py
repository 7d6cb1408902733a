"""Prompt tools in toyworld's caption vocabulary (contract: /work/shared/toyworld.md).

The default model was trained on toyworld captions, so each tool writes the words those
captions use:

    with_camera("a red ball", "pan-left")   # "a red ball. The camera pans left."
    enhance("red ball going right")         # "A red ball starts on the left and moves right and ends up on the right."
    split_shots("Shot 1: ... Shot 2: ...")  # ["...", "..."]
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from kino.data.toyworld import Actor, Event, Obj, Scene, Segment, Shot, describe
from kino.data.toyworld.scene import BOUNCES, COLORS, GROW, MARGIN, SHRINK, SPIN, contact_distance, extent
from kino.backends.base import RequestError

CAMERAS = ("still", "pan-left", "pan-right", "zoom-in", "zoom-out")
# The caption generator's first wording of each camera move (captions._CAMERA_WORDS).
CAMERA_PHRASES = {
    "pan-left": "The camera pans left.",
    "pan-right": "The camera pans right.",
    "zoom-in": "The camera zooms in.",
    "zoom-out": "The camera zooms out.",
}
# A pan, said the ways people say it: the camera (or the view, the shot) panning, sweeping, moving,
# tracking... left or right ("the camera sweeps to the right", "the view slides left"), a "panning shot to
# the left", "pan from left to right", "a leftward pan". Toyworld's pan moves the whole view, so a truck
# or a track reads as one too. Each pattern's group "way" is the way the camera goes.
_PAN_VERBS = (r"pan(?:s|ning|ned)?|sweep(?:s|ing)?|swept|swing(?:s|ing)?|swung|mov(?:es?|ing|ed)|slid(?:es?|ing)?|"
              r"glid(?:es?|ing|ed)|drift(?:s|ing|ed)?|track(?:s|ing|ed)?|truck(?:s|ing|ed)?|travel(?:s|l?ing|l?ed)?|"
              r"turn(?:s|ing|ed)?|swivel(?:s|l?ing|l?ed)?|scroll(?:s|ing|ed)?|whip(?:s|ping|ped)?")
_PAN_FILL = (r"(?:\s+(?:slowly|smoothly|gently|steadily|quickly|rapidly|fast|then|also|across|over|along|sideways|"
             r"around|round|off|away|shot|to|towards?|the|its|view|scene|frame))*")
_PAN_WAY = r"\s+(?P<way>left|right)(?:wards?)?\b(?!\s+of\b)"  # not "pan to the left of"
_PAN = (
    (rf"\b(?:camera|view|shot|lens)(?:\s+(?:slowly|smoothly|gently|steadily|quickly|then|also))*"
     rf"\s+(?:{_PAN_VERBS}){_PAN_FILL}{_PAN_WAY}"),
    rf"\bpan(?:s|ning|ned)?{_PAN_FILL}{_PAN_WAY}",
    (r"\bpan(?:s|ning|ned)?(?:\s+shot)?(?:\s+(?:slowly|smoothly|across|over))*\s+from\s+(?:the\s+)?(?:left|right)"
     r"(?:\s+side)?\s+to\s+(?:the\s+)?(?P<way>left|right)\b"),
    r"\b(?P<way>left|right)(?:wards?)?\s+(?:camera\s+)?pan(?:ning)?\b",
)
_CAMERA_PATTERNS = {
    "zoom-in": r"\bzoom(?:s|ing|ed)?\s+in\b",
    "zoom-out": r"\bzoom(?:s|ing|ed)?\s+out\b",
    "still": r"\b(?:still|static|fixed|steady|locked)\s+camera\b|\bcamera\s+(?:stays|is|holds|remains)\s+(?:still|static|steady)\b",
}


def camera_phrases(prompt: str) -> list[tuple[str, tuple[int, int]]]:
    """(camera move, character span) of each phrase of ``prompt`` that names a camera move or a still
    camera, in order."""
    text = prompt.lower()
    found = [(f"pan-{m['way']}", m.span()) for pattern in _PAN for m in re.finditer(pattern, text)]
    found += [(name, m.span()) for name, pattern in _CAMERA_PATTERNS.items() for m in re.finditer(pattern, text)]
    return sorted(found, key=lambda item: item[1])


def camera_in(prompt: str) -> set[str]:
    """The camera moves a prompt's own words ask for (empty: none named)."""
    return {name for name, _ in camera_phrases(prompt)}


def without_camera(text: str) -> str:
    """``text`` with each camera phrase blanked out, character for character (so spans still point at
    the same words): "the camera sweeps to the right" is the camera's way, not an object's motion or
    place."""
    for _, (a, b) in camera_phrases(text):
        text = text[:a] + " " * (b - a) + text[b:]
    return text


def camera_moves(prompt: str) -> set[str]:
    """The camera moves a prompt's own words ask for, "still" left out (empty: the camera holds)."""
    return camera_in(prompt) - {"still"}


def with_camera(prompt: str, camera: str | None) -> str:
    """The prompt with the caption phrase for ``camera`` added; RequestError on a conflict.

    "still" adds nothing: toyworld captions leave a still camera unsaid.
    """
    if camera is None:
        return prompt
    if camera not in CAMERAS:
        raise RequestError(f"camera {camera!r} is not allowed; use one of {', '.join(CAMERAS)}")
    named = camera_in(prompt)
    others = sorted(named - {camera})
    if others:
        raise RequestError(f"--camera {camera} conflicts with the prompt, which asks for camera {others[0]}; "
                           "drop one of them")
    if camera == "still" or camera in named:
        return prompt
    body = prompt.strip()
    if body and body[-1] not in ".!?":
        body += "."
    return f"{body} {CAMERA_PHRASES[camera]}".strip()


_SHOT = re.compile(r"\bshot\s+(\d+)\s*:", re.IGNORECASE)


def split_shots(prompt: str) -> tuple[str, list[str]]:
    """(lead, shots) of a "Shot 1: ... Shot 2: ..." prompt; shots is empty for a one-shot prompt.

    The lead is whatever comes before "Shot 1:" (a style, e.g. "A cartoon:").
    """
    marks = list(_SHOT.finditer(prompt))
    if not marks:
        return prompt.strip(), []
    numbers = [int(m.group(1)) for m in marks]
    if numbers != list(range(1, len(marks) + 1)):
        raise RequestError(f"shots are numbered {numbers}; number them Shot 1:, Shot 2:, ... in order")
    bounds = [m.start() for m in marks] + [len(prompt)]
    shots = [prompt[m.end() : bounds[i + 1]].strip() for i, m in enumerate(marks)]
    empty = [i + 1 for i, s in enumerate(shots) if not s]
    if empty:
        raise RequestError(f"shot {empty[0]} is empty; describe what it shows")
    return prompt[: marks[0].start()].strip(), shots


# ---------------------------------------------------------------------------------------
# Prompt upsampling: a short prompt -> a toyworld scene -> its canonical detailed caption.

_SHAPE_WORDS = {
    "circle": "circle", "circles": "circle", "ball": "circle", "balls": "circle", "disc": "circle",
    "discs": "circle", "disk": "circle", "sphere": "circle", "spheres": "circle", "dot": "circle",
    "square": "square", "squares": "square", "box": "square", "boxes": "square", "block": "square",
    "blocks": "square", "cube": "square", "cubes": "square",
    "triangle": "triangle", "triangles": "triangle", "pyramid": "triangle", "pyramids": "triangle",
}  # fmt: skip
_SIZE_WORDS = {"small": "small", "little": "small", "tiny": "small", "big": "big", "large": "big", "huge": "big"}
_COUNT_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                "1": 1, "2": 2, "3": 3, "4": 4, "5": 5}  # fmt: skip
_MENTION = re.compile(
    rf"\b(?:(?P<count>{'|'.join(_COUNT_WORDS)})\s+)?(?:(?P<size>{'|'.join(_SIZE_WORDS)})\s+)?"
    rf"(?P<color>{'|'.join(COLORS)})\s+(?P<shape>{'|'.join(_SHAPE_WORDS)})\b"
)
_MOTIONS = (  # (pattern, motion), tried in order on the words after a mention
    (r"\b(?:still|put|not move|doesn't move|does not move|in place|motionless)\b", "still"),
    (r"\b(?:falls?|falling|drops?|dropping)\b", "falls"),
    (r"\bbounc", "bounces"),
    (r"\b(?:grows?|growing|gets bigger|swells?|expands?)\b", "grows"),
    (r"\b(?:shrinks?|shrinking|gets smaller)\b", "shrinks"),
    (r"\b(?:spins?|spinning|rotates?|rotating|turns around)\b", "spins"),
    (r"\brightward|\b(?:to the|towards the|toward the|goes|going|moves?|moving|rolls?|rolling|slides?|sliding|"
     r"glides?|travels?|heads?|heading)\s+right\b", "right"),
    (r"\bleftward|\b(?:to the|towards the|toward the|goes|going|moves?|moving|rolls?|rolling|slides?|sliding|"
     r"glides?|travels?|heads?|heading)\s+left\b", "left"),
    (r"\b(?:rises|rising|upward|moves up|moving up|goes up|going up|floats up)\b", "up"),
    (r"\b(?:sinks|sinking|downward|moves down|moving down|goes down|going down)\b", "down"),
)
_PLACES_X = ((r"\b(?:(?:on|at|to) the|top|bottom) left(?: side)?\b(?!\s+of)", "left"),  # "at the bottom left" too
             (r"\b(?:(?:on|at|to) the|top|bottom) right(?: side)?\b(?!\s+of)", "right"),
             (r"\bin the (?:middle|center|centre)\b|\b(?:top|bottom) (?:middle|center|centre)\b", "middle"))  # fmt: skip
_PLACES_Y = ((r"\b(?:at|near) the top\b", "top"), (r"\b(?:at|near) the bottom\b", "bottom"))
_UNSUPPORTED = re.compile(r"\b(?:turns? (?:" + "|".join(COLORS) + r")|"
                          r"(?:left|right) of|above|below)\b")  # relations: kept as written
_X = {"left": 0.22, "middle": 0.5, "right": 0.78}
_Y = {"top": 0.28, "middle": 0.5, "bottom": 0.72}
_FREE_CELLS = [("middle", "middle"), ("left", "middle"), ("right", "middle"), ("left", "top"), ("right", "bottom")]


def _style(text: str) -> str | None:
    if re.search(r"\bcartoon", text):
        return "cartoon"
    if re.search(r"\b(?:realistic|photo|3d)\b", text):
        return "realistic"
    return None


def _actor(obj: Obj, count: int, index: int, motion: str | None, x: str | None, y: str | None) -> Actor:
    """A laid-out actor doing ``motion`` from the place asked (or a default that leaves room)."""
    cell_x, cell_y = _FREE_CELLS[index % len(_FREE_CELLS)] if count == 1 else (("left", "middle", "right")[index % 3],
                                                                               ("middle", "top", "bottom")[index // 3])
    px = _X[x or cell_x]
    py = _Y[y or cell_y]
    if motion in ("right", "left"):
        d = 0.45 if motion == "right" else -0.45
        px = px if x else 0.5 - d / 2
        return Actor(obj.id, px, py, motion, (Segment("move", 0.0, 1.0, dx=d),))
    if motion in ("up", "down"):
        d = 0.4 if motion == "down" else -0.4
        py = py if y else 0.5 - d / 2
        return Actor(obj.id, px, py, motion, (Segment("move", 0.0, 1.0, dy=d),))
    if motion == "falls":
        return Actor(obj.id, px, 0.3, motion, (Segment("fall", 0.0, 1.0, dy=0.4),))
    if motion == "bounces":
        return Actor(obj.id, px, 0.45, motion, (Segment("bounce", 0.0, 1.0, amount=0.25, count=BOUNCES),))
    segments = {"grows": (Segment("scale", amount=GROW),), "shrinks": (Segment("scale", amount=SHRINK),),
                "spins": (Segment("spin", amount=SPIN),)}.get(motion or "", ())  # fmt: skip
    return Actor(obj.id, px, py, motion or "", segments)


def _parse_shot(text: str, objs: list[Obj]) -> Shot | None:
    """One shot's actors (adding new characters to ``objs``) and camera, or None when its words are
    outside the vocabulary. A colour already in ``objs`` is the same character. The actors are read
    with the camera's words taken out: "the camera pans to the right" moves the view, not an object."""
    low = " ".join(text.lower().split())
    shot = _parse_actors(without_camera(low), objs)
    if shot is None:
        return None
    cameras = camera_moves(low)
    return dataclasses.replace(shot, camera=cameras.pop() if len(cameras) == 1 else "still")


def _parse_actors(low: str, objs: list[Obj]) -> Shot | None:
    """The shot of one shot's words, camera still (see ``_parse_shot``)."""
    mentions = list(_MENTION.finditer(low))
    if _CONTACT.search(low):
        return _contact(low, mentions, objs)
    if re.search(r"\bbehind\b", low):
        return _behind(low, mentions, objs)
    if not mentions or _UNSUPPORTED.search(low):
        return None
    colors = [m.group("color") for m in mentions]
    if len(set(colors)) != len(colors):  # captions name each object by its colour
        return None
    actors = []
    for i, m in enumerate(mentions):
        after = low[m.end() : mentions[i + 1].start() if i + 1 < len(mentions) else len(low)]
        count = _COUNT_WORDS.get(m.group("count") or "a", 1)
        shape = _SHAPE_WORDS[m.group("shape")]
        size = _SIZE_WORDS.get(m.group("size") or "", "medium")
        found = next(((name, hit) for pattern, name in _MOTIONS if (hit := re.search(pattern, after))), None)
        motion = found[0] if found else None
        where = after  # the words that say where it starts: not "to the right" of "rolls to the right"
        if found and motion in ("left", "right"):
            where = after[: found[1].start()] + " " + after[found[1].end() :]
        if motion == "spins" and shape == "circle":
            motion = None  # a spinning circle looks still; the contract only spins squares and triangles
        x = next((name for pattern, name in _PLACES_X if re.search(pattern, where)), None)
        y = next((name for pattern, name in _PLACES_Y if re.search(pattern, after)), None)
        known = [o for o in objs if o.color == m.group("color")]
        if known and (known[0].shape, known[0].size, len(known)) != (shape, size, count):
            return None  # one colour, two different characters: the captions could not tell them apart
        for k in range(count):
            obj = known[k] if known else Obj(len(objs), m.group("color"), shape, size)
            if not known:
                objs.append(obj)
            actors.append(_actor(obj, count, k if count > 1 else i, motion, x, y))
    events: tuple[Event, ...] = ()
    if len(mentions) == 2 and len(actors) == 2:
        between = low[mentions[0].end() : mentions[1].start()]
        if re.search(r"\bpush(?:es)?\b", between):
            by_color = {o.color: o for o in objs}
            actors = _push([by_color[m.group("color")] for m in mentions], low, mentions)
            if actors is None:
                return None
            events = (Event("push", actors[0].obj, actors[1].obj, actors[1].segments[0].start),)
        elif re.search(r"\bthen\b", between):
            actors = _order(actors, [_placed(low[m.end() :]) for m in mentions])
            events = (Event("order", actors[0].obj, actors[1].obj),)
    elif re.search(r"\b(?:then|push(?:es)?)\b", low):
        return None  # an order or a push of other than two objects: not planned
    return _shot(actors, events)


def _shot(actors, events: tuple[Event, ...] = ()) -> Shot:
    """The shot of ``actors`` on the first backdrop, its camera still (``_parse_shot`` sets it)."""
    return Shot(tuple(actors), events=events, backdrop=0)


FIRST, THEN = (0.0, 0.4), (0.6, 1.0)  # "first A ..., then B ...": A moves in the first span, B in the second


def _placed(words: str) -> bool:
    return any(re.search(p, words) for p, _ in _PLACES_X + _PLACES_Y)


def _order(actors: list[Actor], placed: list[bool]) -> list[Actor]:
    """Two movers of "first A ..., then B ...": A's motion in the first span of the shot, B's in the
    second, each still in the other, on paths apart (unless the words place them): side by side on
    two rows (or columns), or the one moving across on the top row and the other up or down the right."""
    horizontal = [bool(a.segments) and a.segments[0].dx != 0 for a in actors]
    vertical = [bool(a.segments) and a.segments[0].dy != 0 for a in actors]
    out = list(actors)
    if not any(placed):
        if all(horizontal):
            out = [dataclasses.replace(a, y=y) for a, y in zip(out, (0.3, 0.7))]
        elif all(vertical):
            out = [dataclasses.replace(a, x=x) for a, x in zip(out, (0.3, 0.7))]
        elif any(horizontal) and any(vertical):
            out = [dataclasses.replace(a, y=0.2) if h else _down_the_right(a) if v else a
                   for a, h, v in zip(out, horizontal, vertical)]  # fmt: skip
    return [dataclasses.replace(a, segments=tuple(dataclasses.replace(g, start=lo + (hi - lo) * g.start,
                                                                      end=lo + (hi - lo) * g.end) for g in a.segments))
            for a, (lo, hi) in zip(out, (FIRST, THEN))]  # fmt: skip


def _down_the_right(a: Actor) -> Actor:
    """A mover up or down kept below a top row: column x 0.78, between y 0.48 and 0.82."""
    down = a.segments[0].dy > 0
    return dataclasses.replace(a, x=0.78, y=0.48 if down else 0.82,
                               segments=(dataclasses.replace(a.segments[0], dy=0.34 if down else -0.34),))


PUSH_IN, PUSH_ALONG, PUSH_END = 0.2, 0.35, 0.9  # toyworld's push: A closes this gap, then both go this far by this time
PUSH_OVERLAP = 0.01  # planned boxes meet this far into each other, so objects drawn a little small still touch


def _push(objs: list[Obj], low: str, mentions: list) -> list[Actor] | None:
    """"A pushes B" (to the right or left; default right): on one row, A moves towards B, touches
    it, and both go on together, as toyworld's pushes do."""
    a, b = objs
    after = low[mentions[1].end() :] + " " + low[mentions[0].end() : mentions[1].start()]
    sign = -1.0 if re.search(r"\bleft(?:ward)?\b", after) else 1.0
    row = _row(a, b, sign, PUSH_IN, PUSH_ALONG, low)
    if row is None:
        return None
    start, xb, y = row
    at = PUSH_END * PUSH_IN / (PUSH_IN + PUSH_ALONG)
    direction = "right" if sign > 0 else "left"
    return [Actor(a.id, start, y, direction, (Segment("move", 0.0, PUSH_END, dx=sign * (PUSH_IN + PUSH_ALONG)),)),
            Actor(b.id, xb, y, "", (Segment("move", at, PUSH_END, dx=sign * PUSH_ALONG),))]  # fmt: skip


def _row(a: Obj, b: Obj, sign: float, gap: float, along: float, low: str) -> tuple[float, float, float] | None:
    """(x of A, x of B, y) of two objects on one row: A moving ``sign`` (+1 right) closes ``gap`` to
    touch B (their boxes ``PUSH_OVERLAP`` into each other), then B may go ``along`` further. The
    row, from A's back edge to B's front edge at the end, is centred; y is the place the words name
    (default the middle). None when the row does not fit in the frame."""
    la, ra, _, _ = extent(a.shape, a.half)
    lb, rb, _, _ = extent(b.shape, b.half)
    reach = contact_distance(a, b) - PUSH_OVERLAP
    back = la if sign > 0 else ra
    span = back + gap + reach + along + (rb if sign > 0 else lb)
    if span > 1 - 2 * MARGIN:
        return None
    xa = float(0.5 - sign * span / 2 + sign * back)
    y = next((_Y[name] for pattern, name in _PLACES_Y if re.search(pattern, low)), 0.5)
    return xa, xa + sign * (gap + reach), y


def read_shot(text: str) -> tuple[list[Obj], Shot] | None:
    """The objects and laid-out actors of one shot's words (kino.director.layout plans from
    them), or None when the words are outside the vocabulary."""
    objs: list[Obj] = []
    shot = _parse_shot(text, objs)
    return None if shot is None else (objs, shot)


def _caption(shots: list[str], style: str | None) -> str | None:
    """The canonical caption of the scene the shots describe, or None if one cannot be read."""
    objs: list[Obj] = []
    parsed = [_parse_shot(text, objs) for text in shots]
    if any(s is None for s in parsed):
        return None
    if any(e.kind != "order" for s in parsed for e in s.events):  # type: ignore[union-attr]
        return None  # toyworld's first wording of a contact leaves out A's way: kept as written
    caption = describe(Scene(style or "cartoon", tuple(objs), tuple(parsed)))  # type: ignore[arg-type]
    if style is None:  # describe() always leads with the style; keep it only when it was asked for
        body = caption.split(": ", 1)[1]
        caption = body[0].upper() + body[1:]
    return caption


def enhance(prompt: str) -> str:
    """A short prompt rewritten as the detailed caption the model was trained on; deterministic.

    Objects ("two small blue boxes"), their motion, place, the camera, the style and the
    shots are read with toyworld's vocabulary and written back by toyworld's caption writer.
    A prompt with words it cannot place (events, unknown things) is kept as written.
    """
    lead, shots = split_shots(prompt)
    caption = _caption(shots or [lead], _style(prompt.lower()))
    return caption if caption is not None else _sentence(prompt)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text[-1] in ".!?" else ".")


_CONTACT = re.compile(r"\b(?:hits?|bites?|takes a bite)\b")
HIT = (0.36, 0.5)  # A closes this gap (fraction of W) by this shot time, and B turns then
BITE = (0.25, 0.45)  # likewise for a bite; B is bitten a moment later (toyworld's timing)


def _contact(low: str, mentions: list, objs: list[Obj]) -> Shot | None:
    """"A hits B and B turns <colour>" or "A bites B": on one row, A moves to B and touches it
    (boxes a little into each other, as for a push); then B takes the new colour, or loses a bite
    on the side A came from and backs off, as toyworld's events do. None for other words."""
    firsts = _firsts(mentions)
    if len(firsts) != 2 or not _CONTACT.search(low[firsts[0].end() : firsts[1].start()]):
        return None
    if re.search(r"\b(?:then|behind|push(?:es)?)\b", low):
        return None
    bite = "bit" in _CONTACT.search(low).group() or "bite" in low[firsts[0].end() : firsts[1].start()]
    turn = re.search(rf"\bturns? ({'|'.join(COLORS)})\b", low[firsts[1].end() :])
    if bite == bool(turn) or (turn and turn.group(1) in (firsts[0]["color"], firsts[1]["color"])):
        return None  # a hit must say the colour it turns (another one); a bite says none
    pair = _pair(firsts, objs)
    if pair is None:
        return None
    a, b = pair
    sign = -1.0 if re.search(r"\bleft(?:ward)?\b", low[firsts[0].end() : firsts[1].start()]) else 1.0
    gap, at = BITE if bite else HIT
    row = _row(a, b, sign, gap, 0.0, low)
    if row is None:
        return None
    xa, xb, y = row
    way = "right" if sign > 0 else "left"
    if bite:
        segments = (Segment("move", 0.0, at, dx=sign * gap), Segment("move", at + 0.14, at + 0.29, dx=-sign * 0.06))
        actors = (Actor(a.id, xa, y, way, segments), Actor(b.id, xb, y, "", bite_at=at + 0.08, bite_side=-int(sign)))
        event = Event("bite", a.id, b.id, at)
    else:
        actors = (Actor(a.id, xa, y, way, (Segment("move", 0.0, at, dx=sign * gap),)),
                  Actor(b.id, xb, y, "", turn=turn.group(1), turn_at=at))  # fmt: skip
        event = Event("hit_turn", a.id, b.id, at, turn.group(1))
    return _shot(actors, (event,))


def _firsts(mentions: list) -> list:
    """The first mention of each colour, in order: a caption names a character again by its colour."""
    return list({m.group("color"): m for m in reversed(mentions)}.values())[::-1]


def _pair(firsts: list, objs: list[Obj]) -> tuple[Obj, Obj] | None:
    """The two single objects two mentions name (added to ``objs`` when new); None for a count or
    for a colour already named as another character."""
    pair = []
    for m in firsts:
        shape, size = _SHAPE_WORDS[m.group("shape")], _SIZE_WORDS.get(m.group("size") or "", "medium")
        if _COUNT_WORDS.get(m.group("count") or "a", 1) != 1:
            return None
        known = [o for o in objs if o.color == m.group("color")]
        if known and (known[0].shape, known[0].size) != (shape, size):
            return None
        pair.append(known[0] if known else Obj(len(objs), m.group("color"), shape, size))
        if not known:
            objs.append(pair[-1])
    return pair[0], pair[1]


BEHIND_HIDDEN = 0.35  # the share of A that B hides while A is behind it (toyworld's: 0.3 to 0.65)


def _behind(low: str, mentions: list, objs: list[Obj]) -> Shot | None:
    """"A passes behind B": B stands in the middle; A crosses from one side to the other the whole
    clip, high enough that its top shows while B hides the rest (``BEHIND_HIDDEN`` of it in a square
    frame; toyworld hides 0.3 to 0.65). A's way is the one named (default: right). None for other
    words."""
    from kino.data.toyworld.scene import GAP, area_below

    firsts = _firsts(mentions)
    if len(firsts) != 2 or "behind" not in low[firsts[0].end() : firsts[1].start()]:
        return None
    if re.search(r"\b(?:then|push(?:es)?)\b", low):
        return None
    pair = _pair(firsts, objs)
    if pair is None:
        return None
    a, b = pair
    options = []
    for dy in np.linspace(0.0, 0.3, 151):
        hidden = area_below(a.shape, (dy - b.half) / a.half)
        if 0.3 <= hidden <= 0.65:
            options.append((abs(hidden - BEHIND_HIDDEN), float(dy)))
    if not options:
        return None
    dy = min(options)[1]
    side = 1.0 if re.search(r"\bleft(?:ward)?\b", low[firsts[0].end() : firsts[1].start()]) else -1.0
    la, ra, _, _ = extent(a.shape, a.half)
    off = max(la, ra) + b.half + GAP + 0.02
    xb, yb = 0.5, 0.56
    way = "right" if side < 0 else "left"
    actors = (Actor(a.id, float(xb + side * off), yb - dy, way, (Segment("move", 0.0, 1.0, dx=float(-side * 2 * off)),)),
              Actor(b.id, xb, yb, "still"))  # fmt: skip
    return _shot(actors, (Event("behind", a.id, b.id, 0.5),))
