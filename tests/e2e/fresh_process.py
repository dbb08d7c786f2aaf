"""Run an exported SavedModel in a fresh Python process that imports only TensorFlow (and the op libraries named)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

# The child gets the inputs as JSON (base64) and prints the outputs as JSON.
# It fails if anything of this project was imported: the export must stand alone.
CHILD = """
import base64, json, sys
import tensorflow as tf
for name in json.loads(sys.argv[1]):
    __import__(name)  # a library whose ops the graph uses (tensorflow_text: SentencePiece)
request = json.load(sys.stdin)
inputs = {name: tf.constant([base64.b64decode(v) for v in values])
          for name, values in request["inputs"].items()}
served = tf.saved_model.load(request["path"]).signatures["serving_default"](**inputs)
leaked = sorted(m for m in sys.modules if m.split(".")[0] == "crossmodal_tf")
assert not leaked, leaked
out = {k: [x.decode() if isinstance(x, bytes) else x for x in v.numpy().tolist()] for k, v in served.items()}
print(json.dumps(out))
"""


def serve_in_fresh_process(path: Path, inputs: dict[str, list], timeout: float = 300, imports: tuple = ()) -> dict:
    """The serving_default signature's outputs (as lists) for inputs: name → list of str or bytes; the child imports
    TensorFlow, and the modules in `imports` that register ops the graph uses."""
    encoded = {name: [base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode() for v in values]
               for name, values in inputs.items()}
    request = json.dumps({"path": str(Path(path).resolve()), "inputs": encoded})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of this checkout on the path
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(list(imports))], input=request, capture_output=True,
                          text=True, timeout=timeout, env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"}, cwd=Path(path).parent)
    if done.returncode != 0:
        raise AssertionError(f"the fresh process failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def serve_in_this_process(path: Path, inputs: dict[str, list]) -> dict:
    """serve_in_fresh_process's outputs, with the SavedModel loaded in this process: for a test whose export
    another test already serves in a fresh process (each task's own end-to-end module does)."""
    import tensorflow as tf

    served = tf.saved_model.load(str(path)).signatures["serving_default"](
        **{name: tf.constant([v if isinstance(v, bytes) else v.encode() for v in values])
           for name, values in inputs.items()})
    return {k: [x.decode() if isinstance(x, bytes) else x for x in v.numpy().tolist()] for k, v in served.items()}
