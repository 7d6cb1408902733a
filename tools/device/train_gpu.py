"""Continue the shipped checkpoint on a lent GPU (see train_gpu.sh); settings from the environment."""

import logging
import os
import time

from kino.training.trainer import TrainConfig, train

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    env = lambda k, d: type(d)(os.environ.get(k, d))
    tc = TrainConfig(
        init_from="src/kino/checkpoints/toyworld", cache_clips=env("CLIPS", 12288), cache_workers=env("WORKERS", 14),
        encode_batch=16, batch=env("BATCH", 256), lr=env("LR", 5e-4), warmup=env("WARMUP", 300), dit_steps=1_000_000,
        checkpoint_every=env("EVERY", 250), max_minutes=env("MINUTES", 7.0), compile=bool(env("COMPILE", 0)),
        grounding=env("GROUNDING", 0.5),
    )
    t = time.monotonic()
    print("model folder:", train(tc, os.environ.get("RUN", "/tmp/run")), "after", round(time.monotonic() - t), "s")
