"""The web page in a real browser: Playwright drives Debian's Chromium against a live server."""

from __future__ import annotations

import shutil

import pytest
from conftest import IN_CI
from service_helpers import add_user

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
def page(tmp_path):
    if not shutil.which("chromium"):
        message = "Debian's chromium is not installed; `bash .ci/services` installs it"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                        headless=True, args=ARGS)
        errors = []
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        # The page runs under kino's Content-Security-Policy: anything it blocks is a failure.
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        yield page
        context.close()
        assert not errors, errors


def test_log_in_generate_watch_and_play(live, page):
    client, url = live
    key = add_user(client, "ann", "artist")["Authorization"].split()[1]
    page.goto(url)
    page.fill("#key", "kino_not_a_key")
    page.click("#login-form button")
    page.wait_for_selector("#login-error:has-text('unknown')")
    page.fill("#key", key)
    page.click("#login-form button")
    page.wait_for_selector("#app-view", state="visible")
    assert page.inner_text("#who") == "ann (artist)"
    # The page keeps no copy of the key a script could read: the session is an HttpOnly cookie.
    stored = page.evaluate("() => [document.cookie, JSON.stringify(sessionStorage), JSON.stringify(localStorage), "
                           "document.querySelector('#key').value]")
    assert not any(key in s for s in stored), stored
    page.reload()
    page.wait_for_selector("#app-view", state="visible")  # the session outlives a reload

    # Storyboard: shots become the multi-shot prompt.
    page.click("nav button[data-tab=storyboard]")
    inputs = page.locator("#shots input.shot")
    inputs.nth(0).fill("a red ball rolls to the right")
    inputs.nth(1).fill("a blue cube falls")
    page.click("#use-storyboard")
    assert page.input_value("#prompt") == "Shot 1: a red ball rolls to the right Shot 2: a blue cube falls"

    # Submit and watch progress arrive over server-sent events.
    page.fill("#prompt", "a red ball rolls to the right")
    page.fill("input[name=steps]", "100")
    page.fill("input[name=seconds]", "8")
    page.evaluate("""() => { window.seen = [];
        new MutationObserver(() => window.seen.push(document.querySelector('#progress').value))
          .observe(document.querySelector('#current-status'),
                   {childList: true, characterData: true, subtree: true}); }""")
    page.click("#submit")
    page.wait_for_selector("#current-status[data-status=done]", timeout=120_000)
    seen = page.evaluate("window.seen")
    assert any(0 < p < 1 for p in seen) and seen[-1] == 1, seen

    # The gallery plays the result.
    page.click("nav button[data-tab=gallery]")
    page.wait_for_selector(".card[data-status=done] video")
    page.wait_for_function("""() => { const v = document.querySelector('.card video');
        return v && v.readyState >= 2 && v.duration > 0; }""", timeout=30_000)
    duration = page.evaluate("document.querySelector('.card video').duration")
    assert abs(duration - 8.25) < 0.3, duration  # 33 frames at 4 fps
    page.evaluate("document.querySelector('.card video').play()")
    page.wait_for_function("() => document.querySelector('.card video').currentTime > 0.2", timeout=10_000)
    page.wait_for_selector(".card .badge[data-summary=kino]")  # signed and watermarked, checked by kino verify

    # A refused prompt shows its category; nothing is queued.
    page.click("nav button[data-tab=create]")
    page.fill("#prompt", "a man is beheaded")
    page.click("#submit")
    page.wait_for_selector("#job-error:has-text('refused')")
    assert "violence_extreme" in page.inner_text("#job-error")

    # A narrated storyboard: each shot's line is spoken from its cut and captioned over the video.
    lines = ["The ball sets off.", "The cube drops."]
    page.click("nav button[data-tab=storyboard]")
    for i, line in enumerate(lines):
        page.locator("#shots input.line").nth(i).fill(line)
    page.click("#use-storyboard")
    page.wait_for_selector("#shot-lines-note:has-text('2 of 2 shots')")
    page.fill("input[name=steps]", "2")
    page.fill("input[name=seconds]", "")  # each shot as long as its words
    before = page.inner_text("#current-id")
    page.click("#submit")
    page.wait_for_function("""(before) => document.querySelector('#current-id').textContent !== before &&
        document.querySelector('#current-status').dataset.status === 'done'""", arg=before, timeout=60_000)
    narrated = page.inner_text("#current-id")
    page.click("nav button[data-tab=gallery]")
    video = f".card[data-job='{narrated}'] video"
    page.wait_for_function("""(sel) => { const v = document.querySelector(sel);
        const t = v && v.textTracks[0];
        return v.readyState >= 2 && t && t.mode === 'showing' && t.cues && t.cues.length > 0; }""",
                           arg=video, timeout=30_000)
    cues = page.evaluate("(sel) => [...document.querySelector(sel).textTracks[0].cues].map((c) => [c.startTime, "
                         "c.text])", video)
    assert [text for _, text in cues] == lines and cues[1][0] > 1.0, cues  # the second from the cut on
    page.evaluate("(sel) => document.querySelector(sel).play()", video)
    page.wait_for_function("(sel) => document.querySelector(sel).currentTime > 0.5", arg=video, timeout=10_000)
    assert page.evaluate("(sel) => document.querySelector(sel).webkitAudioDecodedByteCount", video) > 0


def test_admin_view(live, page):
    client, url = live
    key = add_user(client, "root", "admin")["Authorization"].split()[1]
    add_user(client, "pub", "public")
    page.goto(url)
    page.fill("#key", key)
    page.click("#login-form button")
    page.click("#admin-tab")
    page.wait_for_selector("#users tbody tr:nth-child(2)")
    page.fill("#new-name", "carol")
    page.select_option("#new-role", "artist")
    page.click("#user-form button")
    page.wait_for_selector("#new-key:has-text('kino_')")
    page.wait_for_selector("#users tbody tr:nth-child(3)")
    row = page.locator("#users tbody tr:nth-child(2)")
    row.locator("select").select_option("red_team")
    page.wait_for_selector("#audit td:has-text('admin.user_change')")
    assert page.locator("#roles tr").count() == 5  # a header and the four roles
    roles = {u["name"]: u["role"] for u in client.get("/api/v1/admin/users",
                                                      headers={"Authorization": f"Bearer {key}"}).json()}
    assert roles == {"root": "admin", "pub": "red_team", "carol": "artist"}
