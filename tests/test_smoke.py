from pathlib import Path

from crossmodal_tf.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_default_config_validates():
    """The default experiment (make demo) is a valid match config."""
    assert load_config(CONFIGS / "shapes_match.yaml").task == "match"
