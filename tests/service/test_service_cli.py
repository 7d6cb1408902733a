"""`kino users`, `kino serve` and `kino worker` argument handling, and settings files."""

from __future__ import annotations

import pytest

from kino.cli import main
from kino.service.settings import Settings


def test_users_add_prints_key_once_and_stores_hash(tmp_path, tiny_model_dir, capsys):
    common = ["--data-dir", str(tmp_path), "--model", str(tiny_model_dir)]
    assert main(["users", "add", "ann", "--role", "artist", *common]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("kino_") and len(key) > 40
    assert key.encode() not in (tmp_path / "kino.db").read_bytes()
    assert main(["users", "list", *common]) == 0
    assert capsys.readouterr().out.split() == ["1", "ann", "artist"]


@pytest.mark.parametrize("argv, words", [
    (["users", "add", "ann", "--role", "boss"], "role 'boss' is not one of admin, red_team, artist, public"),
    (["users", "add"], "needs a NAME"),
    (["users", "add", "bad name!", "--role", "public"], "a user name is"),
    (["serve", "--db", "mysql://x"], "use sqlite:///PATH or postgresql://"),
    (["serve", "--port", "70000"], "--port 70000 is not a port"),
    (["worker", "--redis", "http://x"], "use redis://HOST:PORT/DB"),
    (["serve", "--model", "/nonexistent/model"], "/nonexistent/model"),
    (["serve", "--db", "postgresql://kino:wrong@127.0.0.1:1/x"], "cannot open database"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, tiny_model_dir, capsys, argv, words):
    extra = ["--data-dir", str(tmp_path)] + ([] if "--model" in argv else ["--model", str(tiny_model_dir)])
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err


def test_users_add_twice_is_a_usage_error(tmp_path, tiny_model_dir, capsys):
    common = ["--data-dir", str(tmp_path), "--model", str(tiny_model_dir)]
    assert main(["users", "add", "ann", *common]) == 0
    assert main(["users", "add", "ann", *common]) == 2
    assert "already exists" in capsys.readouterr().err


def test_settings_file_edits_role_policies(tmp_path):
    path = tmp_path / "kino.toml"
    path.write_text('lease_seconds = 5.0\n[models]\nbig = "/models/big"\n'
                    '[policies.public]\nenabled = false\n[policies.artist]\nmodels = ["default", "big"]\n'
                    'max_seconds = 12.0\n')
    s = Settings.from_toml(path, models={"default": "/models/small"})
    assert s.lease_seconds == 5.0 and s.models == {"default": "/models/small", "big": "/models/big"}
    assert not s.policy("public").enabled
    assert s.policy("artist").models == ("default", "big") and s.policy("artist").max_seconds == 12.0
    assert s.policy("red_team").see_scores
    path.write_text("[policies.wizard]\nenabled = true\n")
    with pytest.raises(ValueError, match="unknown role 'wizard'"):
        Settings.from_toml(path)
    path.write_text("[policies.artist]\nmax_secs = 3\n")
    with pytest.raises(ValueError, match="max_secs"):
        Settings.from_toml(path)
