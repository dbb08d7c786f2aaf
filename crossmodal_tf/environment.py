"""Facts about where a run ran (env.json), and seeding for repeatable runs."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

PACKAGES = ("crossmodal_tf", "tensorflow", "keras", "keras-hub", "numpy", "pydantic", "pillow", "typer", "rich", "pyyaml")


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(folder: Path = Path(".")) -> str | None:
    """The commit of the git checkout the command runs in, or None outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def describe_environment(seed: int, command: list[str] | None = None) -> dict:
    """The env.json content: versions, seed, command line, git commit, machine."""
    import tensorflow as tf

    return {
        "versions": package_versions(),
        "seed": seed,
        "command": command if command is not None else sys.argv,
        "git_commit": git_commit(),
        "platform": platform.platform(),
        "devices": [d.name for d in tf.config.list_physical_devices()],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow; deterministic also asks TensorFlow for deterministic ops.

    XLA (train.jit_compile) needs deterministic ops off: Keras silently falls back to
    plain graphs while they are on, as not every op has a deterministic XLA kernel.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        # TensorFlow exports only the switch on; a process that trains with XLA after
        # a run without it (tests, notebooks) must turn it off again.
        from tensorflow.python.framework import config as tf_config

        tf_config.disable_op_determinism()
