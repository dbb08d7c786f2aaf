"""`python kill_at_step.py STEP WHERE cmx-arguments…`: run cmx and SIGKILL it right after a chosen checkpoint.

WHERE is `batch` (after the checkpoint of the batch that reaches global step STEP)
or `epoch` (after the checkpoint of the epoch end at STEP). A kill at a random moment
lands on these edges only sometimes; this lands on them every time.
"""

import os
import signal
import sys

from crossmodal_tf.checkpoints import TrainingCheckpoint
from crossmodal_tf.cli.main import app

STEP, WHERE = int(sys.argv[1]), sys.argv[2]


def killing_after(hook_name: str, where: str):
    """The TrainingCheckpoint hook, followed by a SIGKILL of this process at the chosen step."""
    hook = getattr(TrainingCheckpoint, hook_name)

    def hook_then_kill(self, index, logs=None):
        hook(self, index, logs)
        if WHERE == where and self._global_step() == STEP:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook_then_kill


TrainingCheckpoint.on_train_batch_end = killing_after("on_train_batch_end", "batch")
TrainingCheckpoint.on_epoch_end = killing_after("on_epoch_end", "epoch")
sys.argv = ["cmx", *sys.argv[3:]]
app()
