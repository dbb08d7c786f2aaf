from crossmodal_tf.config import load_config


def test_default_config_validates():
    assert load_config("configs/shapes_match.yaml").task == "match"
