"""The words toyworld's captions use: what the toyworld model has seen. A prompt with other words
(a dog, a beach) asks it for things it cannot draw; kino says so and names the open models that can.

``vocabulary.txt`` is what ``collect`` reads from the captions of sampled scenes, and the words the
prompt planner (kino.pipelines.prompting) understands; ``python -m kino.data.toyworld.vocabulary``
writes it again after the captions change (a test checks that it holds what they use).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

FILE = Path(__file__).with_name("vocabulary.txt")
WORD = re.compile(r"[a-z]+")
# Words any prompt may have that say nothing about what is drawn.
GRAMMAR = frozenset("a an the and or of in on at to with from by is are it its this that there these those some "
                    "very while as then into onto over under across video clip".split())


def collect(scenes: int = 3000, seed: int = 0) -> set[str]:
    """The words of the captions of ``scenes`` sampled scenes, and of the prompt planner's tables."""
    import numpy as np

    from kino.data.toyworld.captions import captions
    from kino.data.toyworld.scene import COLORS, sample_scene
    from kino.pipelines import prompting

    rng = np.random.default_rng(seed)
    words: set[str] = set()
    for _ in range(scenes):
        for text in captions(sample_scene(rng), rng):
            words |= set(WORD.findall(text.lower()))
    for table in (prompting._SHAPE_WORDS, prompting._SIZE_WORDS, prompting._COUNT_WORDS, COLORS):
        words |= {w for w in table if WORD.fullmatch(w)}
    return words


@lru_cache(maxsize=1)
def known() -> frozenset[str]:
    return frozenset(FILE.read_text().split()) | GRAMMAR


def unseen(prompt: str) -> list[str]:
    """The words of ``prompt`` toyworld's captions never use, in order, once each."""
    words = known()
    out: list[str] = []
    for w in WORD.findall(prompt.lower()):
        if len(w) > 1 and w not in words and w.rstrip("s") not in words and w not in out:
            out.append(w)
    return out


def note(prompt: str) -> str | None:
    """What to tell a user whose prompt asks the toyworld model for things it never saw, or None."""
    words = unseen(prompt)
    if not words:
        return None
    shown = ", ".join(words[:8]) + (", ..." if len(words) > 8 else "")
    return (f"the toyworld model has never seen: {shown}. It draws coloured shapes on plain backdrops; for real "
            "video use an open model (kino models; e.g. --model Wan-AI/Wan2.1-T2V-1.3B-Diffusers or "
            "Lightricks/LTX-Video)")


if __name__ == "__main__":
    FILE.write_text("\n".join(sorted(collect())) + "\n")
    print(f"wrote {FILE} ({len(known())} words)")
