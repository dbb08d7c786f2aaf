"""Text types are registered objects: a third one is one module (bigram_text_type.py) and one line in
TEXT_TYPES, and then the config reads its keys and refuses them for the others, tasks build it and generate with
its cached step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crossmodal_tf.models.text_types import TEXT_TYPES, load_text_type

HERE = Path(__file__).resolve().parent

# run in a fresh process: the config's model.text section is assembled from the registry when it is imported
THIRD_TYPE = """
import numpy as np
import crossmodal_tf.models.text_types as registry
registry.TEXT_TYPES["bigram"] = "bigram_text_type"  # the one registry line
from crossmodal_tf.config import validate_config
from crossmodal_tf.config.reads import refusal, target_of
from crossmodal_tf.data.text import Vocabulary
from crossmodal_tf.decoding import DecodeSettings
from crossmodal_tf.tasks import lm, match
from crossmodal_tf.decoding import make_decoder
from crossmodal_tf.tasks.sequence import generate

data = {"task": "lm", "model": {"text": {"type": "bigram", "width": 6}}}
config = validate_config(data)
print("refused:", refusal(target_of({"task": "lm"}), "model.text.width"))
vocab = Vocabulary(["<pad>", "<unk>", "<start>", "<end>", *[f"w{i}" for i in range(8)]])
model = lm.build_model(config, len(vocab))
gen = lm.generator(model, config)
result = generate(gen, make_decoder(gen, vocab, jit_compile=False), vocab, None, 1,
                  DecodeSettings("greedy", max_length=4))
tokens = [2, *[int(t) for t in result.tokens[0, 0] if t]]
logits = np.asarray(model({"text": np.array([tokens[:-1]])}, training=False), np.float64)[0]
logits[:, [0, 2]] = -np.inf
log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \\
    - logits.max(-1, keepdims=True)
print("match:", abs(sum(log_probs[i, t] for i, t in enumerate(tokens[1:])) - result.log_probs[0, 0]) < 1e-4)
scores = match.build_model(validate_config({**data, "task": "match"}), len(vocab))(
    {"text": np.array([[4, 5]]), "image": np.zeros((1, 64, 64, 3), np.uint8)})
print("scores:", tuple(scores.shape))
"""


@pytest.mark.slow  # builds and decodes with a new text type in a fresh process (TensorFlow imported again): ~20 s
def test_a_third_text_type_is_one_module_and_one_registry_line():
    done = subprocess.run([sys.executable, "-c", THIRD_TYPE], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": f"{HERE}:{HERE.parents[1]}", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(("refused:", "match:", "scores:"))]
    assert lines == ["refused: model.text.type lstm does not read this key (model.text.type bigram reads it)",
                     "match: True", "scores: (1, 1)"]


@pytest.mark.parametrize("name", sorted(TEXT_TYPES))
def test_a_registered_text_type_declares_its_keys_and_builders(name):
    text_type = load_text_type(name)
    assert text_type.name == name
    assert {"model.text.layers", "model.text.dropout"} <= set(text_type.reads)
    assert all(callable(hook) for hook in (text_type.check, text_type.build_encoder, text_type.build_decoder))


def test_reading_the_text_types_imports_no_keras():
    """The config layer reads every type's keys; that must stay fast."""
    code = ("import sys; from crossmodal_tf.models.text_types import TEXT_TYPES, load_text_type; "
            "[load_text_type(n) for n in TEXT_TYPES]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# a fresh process loads saved lms of every text type: with register_saved_layers (what every stage's open_run does)
# and, to show the test can fail, without it
LOAD_IN_FRESH_PROCESS = """
import sys
import keras
if sys.argv[1] == "register":
    from crossmodal_tf.run import register_saved_layers
    register_saved_layers()
for path in sys.argv[2:]:
    try:
        keras.models.load_model(path, compile=False, safe_mode=True)
        print("loaded")
    except TypeError:
        print("not loaded")
"""


@pytest.mark.slow
def test_a_saved_model_of_every_text_type_loads_in_a_fresh_process(tmp_path):
    """cmx test, sample and report load model.keras in a process that never built a model: the text types' decoder
    layers must be registered by then (they are imported lazily, when a model is built)."""
    from crossmodal_tf.config import validate_config
    from crossmodal_tf.tasks import lm

    paths = []
    for name in TEXT_TYPES:
        paths.append(str(tmp_path / f"{name}.keras"))
        lm.build_model(validate_config({"task": "lm", "model": {"text": {"type": name, "layers": 1}}}), 12).save(paths[-1])
    env = {**os.environ, "PYTHONPATH": str(Path(lm.__file__).parents[2]), "TF_CPP_MIN_LOG_LEVEL": "2"}
    loads = {how: subprocess.run([sys.executable, "-c", LOAD_IN_FRESH_PROCESS, how, *paths], capture_output=True,
                                 text=True, env=env, timeout=300).stdout.split()
             for how in ("register", "bare")}
    assert loads["register"] == ["loaded"] * len(paths)
    assert "not" in loads["bare"]  # the layer classes are not found without it
