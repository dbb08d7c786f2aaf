"""Facts about where a run ran (env.json) and the TensorFlow settings a run needs."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

PACKAGES = ("crossmodal_tf", "tensorflow", "keras", "numpy", "pydantic", "pillow", "typer", "rich", "pyyaml")


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


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and ask TensorFlow for deterministic ops."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def gpu_count() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def make_strategy(name: str):
    """The tf.distribute strategy for train.strategy (auto: mirrored on several GPUs, else the default)."""
    import tensorflow as tf

    gpus = gpu_count()
    if name == "mirrored" or (name == "auto" and gpus > 1):
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    return tf.distribute.get_strategy()
