"""A small load test in the suite (the full 20-client run is in the closing notes): no 5xx, nothing lost or doubled."""

from __future__ import annotations

import json

from service_helpers import add_user

from kino.service import loadtest


def test_concurrent_clients_lose_and_double_nothing(live, settings, capsys):
    client, url = live
    key = add_user(client, "root", "admin")["Authorization"].split()[1]
    rc = loadtest.main(["--url", url, "--admin-key", key, "--clients", "4", "--jobs", "16", "--steps", "1"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0, report
    assert report["jobs_accepted"] == 16 and report["final_states"] == {"done": 16}
    assert report["server_errors"] == report["lost"] == report["duplicated"] == 0
    assert len(list((settings.data_dir / "outputs").glob("*.mp4"))) == 16


def test_hostile_uploads_beside_normal_jobs_get_4xx_and_break_nothing(live, settings, capsys):
    """The load test with a client sending bombs, an audio-only mp4, a cut multipart body and a chunked
    body far over the limit the whole time: every hostile answer a 4xx, the normal jobs all done."""
    import os

    client, url = live
    key = add_user(client, "root", "admin")["Authorization"].split()[1]
    rc = loadtest.main(["--url", url, "--admin-key", key, "--clients", "2", "--jobs", "6", "--steps", "1",
                        "--hostile", "1", "--server-pid", str(os.getpid())])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0, report
    assert report["final_states"] == {"done": 6} and report["server_errors"] == 0
    codes = report["hostile_codes"]
    assert codes and all(c.startswith("4") for c in codes) and sum(codes.values()) >= 7, codes
    assert report["server_peak_rss_mb"] > 0
