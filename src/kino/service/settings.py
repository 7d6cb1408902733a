"""Service settings: one frozen dataclass, read once by the CLI (flags, environment, a TOML file) and passed down."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("admin", "red_team", "artist", "public")
COMMANDS = ("generate", "image_to_video", "extend")


@dataclass(frozen=True)
class RolePolicy:
    """What one role may do; the staged release is a sequence of edits to these."""

    models: tuple[str, ...] = ("default",)
    commands: tuple[str, ...] = COMMANDS
    max_seconds: float = 8.0
    max_pixels: int = 256 * 256  # width * height
    max_steps: int = 50
    jobs_per_minute: int = 10  # per API key
    jobs_per_day: int = 200  # per user
    see_scores: bool = False  # moderation scores on refusals (red-teamers)
    enabled: bool = True  # a role switched off cannot submit at all (not yet released to it)


DEFAULT_POLICIES = {
    "admin": RolePolicy(max_seconds=30.0, max_pixels=512 * 512, max_steps=200, jobs_per_minute=120,
                        jobs_per_day=10_000, see_scores=True),
    "red_team": RolePolicy(max_seconds=30.0, max_pixels=512 * 512, max_steps=200, jobs_per_minute=60,
                           jobs_per_day=5_000, see_scores=True),
    "artist": RolePolicy(max_seconds=16.0, max_pixels=384 * 384, max_steps=100, jobs_per_minute=20),
    "public": RolePolicy(commands=("generate",), max_seconds=4.0, max_pixels=256 * 256, max_steps=30,
                         jobs_per_minute=4, jobs_per_day=50),
}


@dataclass(frozen=True)
class Settings:
    db_url: str = "sqlite:///kino-service/kino.db"
    data_dir: Path = Path("kino-service")  # uploads/ and outputs/; shared by every worker
    models: dict[str, str] = field(default_factory=dict)  # model name -> model folder; "default" first
    redis_url: str | None = None  # set: jobs go to Redis for `kino worker`; unset: an in-process worker
    embedded_worker: bool = True  # run a worker thread inside the server (ignored with redis_url)
    policies: dict[str, RolePolicy] = field(default_factory=lambda: dict(DEFAULT_POLICIES))
    max_upload_bytes: int = 50 * 1024 * 1024
    lease_seconds: float = 30.0  # a running job whose worker stops renewing this long is taken back
    max_attempts: int = 3  # runs of a job (first try + retries after lost workers)
    poll_seconds: float = 0.5  # how often an idle embedded worker looks for work
    torch_threads: int | None = None  # torch.set_num_threads in workers (None: leave as is)
    dtype: str | None = None  # workers' compute dtype: auto, bf16, fp16, fp32 (None: $KINO_DTYPE, else auto)
    keys_dir: Path | None = None  # C2PA signing keys shared by all workers (None: data_dir / "keys")
    voices_dir: Path | None = None  # Piper voices for narration, the same folder for every worker (kino.audio.voices)

    @property
    def signing_keys(self) -> Path:
        return Path(self.keys_dir) if self.keys_dir else Path(self.data_dir) / "keys"

    def policy(self, role: str) -> RolePolicy:
        return self.policies[role]

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> "Settings":
        """Settings from a TOML file; ``[policies.ROLE]`` tables edit a role's default policy."""
        with open(path, "rb") as f:
            data = tomllib.load(f)
        policies = dict(DEFAULT_POLICIES)
        for role, table in data.pop("policies", {}).items():
            if role not in ROLES:
                raise ValueError(f"{path}: unknown role {role!r}; roles are {', '.join(ROLES)}")
            table = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
            try:
                policies[role] = dataclasses.replace(policies[role], **table)
            except TypeError as e:
                raise ValueError(f"{path}: policies.{role}: {e}") from None
        for key in ("data_dir", "keys_dir", "voices_dir"):
            if key in data:
                data[key] = Path(data[key])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
        models = {**overrides.pop("models", {}), **data.pop("models", {})}  # the file may add named models
        data.update({k: v for k, v in overrides.items() if v is not None})
        data["models"] = models
        return cls(policies=policies, **data)
