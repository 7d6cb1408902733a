"""`schemathesis run` against a live `kino serve`: requests generated from the OpenAPI spec; none may cause a 5xx."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from service_helpers import kino, serve_setup, stop, wait_http


def test_schemathesis_finds_no_server_errors(tmp_path, tiny_model_dir):
    common, auth, port, url = serve_setup(tmp_path, tiny_model_dir)
    server = kino("serve", "--port", str(port), *common)
    try:
        wait_http(url, server)
        exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
        run = subprocess.run(
            [exe, "run", f"{url}/openapi.json", "--checks", "not_a_server_error", "--max-examples", "5",
             "--phases", "examples,coverage,fuzzing,stateful", "--seed", "1", "--generation-deterministic",
             "--request-timeout", "60", "-H", f"Authorization: {auth['Authorization']}", "--no-color"],
            capture_output=True, text=True, timeout=400, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        summary = run.stdout[-3000:]
        assert run.returncode == 0, summary + run.stderr[-2000:]
        m = re.search(r"(\d+) generated, (\d+) passed", summary)
        assert m and int(m.group(1)) == int(m.group(2)) > 100, summary
    finally:
        stop(server)
