from kino.progress import SAMPLING, Progress


def recorder():
    seen = []
    progress = Progress(lambda done, total: seen.append((done, total, progress.stage)))
    return progress, seen


def test_work_skipped_in_a_block_that_plans_its_own_is_jumped_over_never_back():
    progress, seen = recorder()
    with progress.own():
        progress.expect(6)  # three drafts of two steps may be sampled
        progress.start(SAMPLING)
        progress.advance(2)  # the first is clean: the other two are skipped
    assert seen == [(0, 6, SAMPLING), (2, 6, SAMPLING), (6, 6, SAMPLING)]
    progress.advance()  # more work than planned: the total grows with it
    assert seen[-1] == (7, 7, SAMPLING)


def test_a_part_scales_its_own_units_into_those_set_aside_and_leaves_room_for_other_work():
    progress, seen = recorder()
    progress.expect(10 + 2)  # a clip's share, and two units of writing
    with progress.part(10) as part:
        part.expect(4)
        part.start("drafting")
        part.advance()
        progress.advance()  # the writer counts a unit meanwhile (a piece of an earlier chunk)
        part.advance()
    progress.advance()  # the writer's last unit
    assert [(d, t) for d, t, _ in seen] == [(0, 12), (2, 12), (3, 12), (6, 12), (11, 12), (12, 12)]
    assert seen[1][2] == "drafting"  # the part's stage is the whole's


def test_nothing_is_counted_for_a_block_that_raises():
    progress, seen = recorder()
    progress.expect(4)
    try:
        with progress.own():
            progress.expect(3)
            raise RuntimeError
    except RuntimeError:
        pass
    assert seen == [] and progress.done == 0


def test_a_plain_callback_is_wrapped_and_none_reports_nowhere():
    seen = []
    progress = Progress.of(lambda done, total: seen.append((done, total)))
    assert Progress.of(progress) is progress
    progress.expect(1)
    progress.advance()
    Progress.of(None).advance()
    assert seen == [(1, 1)]
