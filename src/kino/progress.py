"""How far the making of one output is, for a progress bar: every stage that takes time reports.

Work is counted in units of about one model call: a sampling step, a VAE decode or encode, a check
of the frames, a chunk of frames watermarked and encoded. Each stage says what it will do before
it starts (``expect``), so the total is known before the bar moves, then reports each unit as it
is done (``advance``), under a stage name for the bar to show (``start``). A callee that counts in
units of its own (a chunk of a long clip, a shot of a storyboard, the file writer) gets a ``part``:
its share of the work, scaled into the units set aside for it.

The bar relies on three rules: ``done`` never goes back; ``total`` never shrinks, and grows only
when work turns out larger than planned; a finished output ends at done == total. Work planned and
then skipped (a later draft when the first came out clean) is jumped over, forward.

    progress = Progress(lambda done, total: print(progress.stage, done, total))
    with progress.own():               # all that is planned in here is done when it ends
        progress.expect(21)
        progress.start(SAMPLING)
        for _ in range(20):
            ...  # a sampling step
            progress.advance()
        with progress.doing(DECODING):
            ...  # the VAE decode
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

PREPARING = "preparing"  # the prompt read, given frames encoded to start from (an edit's input, a dissolve)
DRAFTING = "drafting"  # a clip drawn still (pass 1 of a moving clip), or the only pass of a planned one
REDRAFTING = "drafting again"  # a draft with faults drawn again from new noise (kino.director.selfcheck)
MOVING = "moving objects"  # the work between two passes: objects drawn, moved, set against a backdrop
SAMPLING = "sampling"
DECODING = "decoding"
CHECKING = "checking frames"  # the output frames' safety checks (kino.safety.guard)
ENCODING = "encoding"  # watermarked and H.264-encoded, a chunk of frames at a time
SIGNING = "signing"  # the C2PA manifest
STAGES = (PREPARING, DRAFTING, REDRAFTING, MOVING, SAMPLING, DECODING, CHECKING, ENCODING, SIGNING)


class Progress:
    """Units of work done of those planned, reported to ``report(done, total)`` each time either
    changes or a stage starts, once some work is planned (total > 0); ``stage`` names what is being
    done."""

    def __init__(self, report: Callable[[int, int], None] | None = None):
        self.report = report
        self.done = 0
        self.total = 0
        self.stage = ""
        self._whole: tuple[Progress, int] | None = None  # a part: the Progress it is part of, its units there
        self._counted = 0  # a part: its units counted there so far

    @classmethod
    def of(cls, progress: Progress | Callable[[int, int], None] | None) -> Progress:
        """``progress`` itself, or a new Progress that reports to the callback ``progress`` (or to nothing)."""
        return progress if isinstance(progress, Progress) else cls(progress)

    def expect(self, units: int) -> None:
        """``units`` more work ahead (said before it starts, so the total does not grow under the bar)."""
        self.total += units

    def start(self, stage: str) -> None:
        """``stage`` begins: reported at once, so the bar names what it waits for."""
        self.stage = stage
        self._send()

    def advance(self, units: int = 1) -> None:
        self.reach(self.done + units)

    def reach(self, done: int) -> None:
        """The work is done up to ``done``: a jump forward over work skipped; never back."""
        self.done = max(self.done, done)
        self.total = max(self.total, self.done)
        self._send()

    @contextmanager
    def doing(self, stage: str, units: int = 1) -> Iterator[None]:
        """A block that does ``units`` of the work expected, in ``stage``: started, then done when it ends."""
        self.start(stage)
        yield
        self.advance(units)

    @contextmanager
    def own(self) -> Iterator[Progress]:
        """A block that plans its own work: what it ``expect``s is all counted done when it ends, the
        work it skipped included (nothing is counted when it raises)."""
        start, planned = self.done, self.total
        yield self
        self.reach(start + self.total - planned)

    @contextmanager
    def part(self, units: int) -> Iterator[Progress]:
        """A Progress for ``units`` of the work expected here, done by a callee that plans in units of
        its own: its share done is counted here as it goes, and all ``units`` when the block ends.
        Other work may be counted here meanwhile (a writer encoding the pieces a part hands out)."""
        sub = Progress()
        sub._whole = (self, units)
        yield sub
        self.advance(units - sub._counted)

    def _send(self) -> None:
        if self._whole is None:
            if self.report is not None and self.total > 0:
                self.report(self.done, self.total)
            return
        whole, units = self._whole
        counted = max(self._counted, units * self.done // self.total if self.total else 0)
        whole.stage = self.stage
        whole.advance(counted - self._counted)
        self._counted = counted
