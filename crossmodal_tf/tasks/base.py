"""What a task is: the `Task` record that every stage asks, instead of tables of its own.

A task module builds one `Task` named TASK: plain facts (read by the config layer,
`cmx runs` and `cmx report` without TensorFlow) and hooks (functions that do the work
and import TensorFlow when they are called). A type checker sees every field, and
tests/e2e/test_task_contract.py runs every hook of every registered task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

# The hooks' `run` is an opened run (crossmodal_tf.run.Run). It is named in comments, not imported, even for type
# checking: run.py opens runs through the task registry, so tasks sit below it (tests/test_layering.py).
RunLike = Any

_MAXIMISED = ("acc", "auc", "precision", "recall", "f1", "bleu", "chrf", "rouge", "cider", "r1", "r5", "r10")

# what `cmx sample` can be given: --image, --prompt, --text/--input, --question
SAMPLE_INPUTS = ("image", "prompt", "text", "question")
SEARCH_INPUTS = ("query", "image")  # what `cmx search` can be given: --query, --image


def monitor_mode(monitor: str) -> str:
    """'max' for metrics where higher is better, 'min' for losses and perplexities."""
    return "max" if any(part in monitor for part in _MAXIMISED) else "min"


@dataclass(frozen=True, kw_only=True)
class Task:
    """One task: what the stages need to know about it, and the functions that do its work."""

    name: str
    # --- facts -------------------------------------------------------------------------
    uses_image: bool  # preprocess stores pixels, the model takes an "image" input
    frame_text: bool  # the "text" field is stored as <start> … <end> (a text the model predicts)
    metric_names: tuple[str, ...]  # the names of train_metrics(): history.csv columns and monitors
    headline_metric: str  # the key of eval_test.json that `cmx runs` shows
    # the config keys (or sections) it reads beyond those every task reads: a key some task declares here is read
    # by the tasks that declare it alone, and the config refuses it for the others (reads_key)
    reads: tuple[str, ...]
    target_text: bool = False  # a second, framed text side ("target") with its own vocabulary
    # make_examples' labels are answers and its kinds question types: preprocess stores them as ids of
    # answer_vocab.txt (the train split's answers) and of stats' question_types
    answers: bool = False
    generates_text: bool = False
    sample_inputs: tuple[str, ...] = ()  # of SAMPLE_INPUTS; empty: `cmx sample` refuses the run
    search_inputs: tuple[str, ...] = ()  # of SEARCH_INPUTS; empty: `cmx search` refuses the run
    # what the data source must give beyond texts, in the words of the sources' GIVES ("documents"); by default images for
    # a task that uses them and translations for one with a target text (see source_needs)
    needs: tuple[str, ...] = ()
    target_level: str = "char"  # how the target text is tokenized when the config has no data.target_text
    writes_unknown: bool = True  # False: its decoding never writes <unk> (a summary's words must be words)
    # preprocess stores each example's text as written (the raw_text feature): the references its generated
    # texts are scored against, never the ids read back (rare words as <unk>, cut at max_length)
    raw_references: bool = False
    # --- hooks -------------------------------------------------------------------------
    # (record, rng, caption pool, data config, hard_negative) → [(text, label, kind[, target])]
    make_examples: Callable[..., list]
    # (config, vocab_size, the target text's or the answers' vocabulary size, or None) → keras.Model
    build_model: Callable[..., Any]
    loss: Callable[..., Any]  # (train_cfg=None) → a keras loss; train_cfg is the config's train section
    train_metrics: Callable[[], list]
    arrange: Callable[[dict], tuple]  # a parsed batch → (model inputs, targets)
    # (run, model, dataset of parsed batches) → flat {metric: value}, headline_metric among them
    evaluate: Callable[[RunLike, Any, Any], dict]
    report_sections: Callable[[RunLike, Any, str, Any], list]  # (run, model, split, dataset) → [Section]
    # (run, model) → serving.endpoint.Endpoint: raw strings and image bytes in, outputs out
    export_endpoint: Callable[[RunLike, Any], Any]
    # (run, SampleRequest, sample settings, seed, warn) → [record per sample]; tasks with sample_inputs only
    sample: Optional[Callable[..., list]] = None
    # record → (source-side texts, target-side texts) whose tokens the train split's vocabularies count;
    # None: the record's captions (or questions) and its translation
    vocab_texts: Optional[Callable[[Any], tuple[list[str], list[str]]]] = None

    def __post_init__(self):
        if (self.sample is not None) != bool(self.sample_inputs) or (self.generates_text and not self.sample_inputs):
            raise TypeError(f"task {self.name}: a task with sample_inputs has a sample hook, and only such a task; "
                            "a task that generates text has both")
        unknown = [i for i in self.sample_inputs if i not in SAMPLE_INPUTS]
        unknown += [i for i in self.search_inputs if i not in SEARCH_INPUTS]
        if unknown:
            raise TypeError(f"task {self.name}: unknown {', '.join(unknown)}")

    def monitors(self) -> tuple[str, ...]:
        """What train.checkpoint.monitor and train.early_stopping.monitor may name for this task."""
        names = ("loss", *self.metric_names)
        return (*names, *(f"val_{n}" for n in names))

    def source_needs(self) -> tuple[str, ...]:
        """What a data source must give for this task (words of the sources' GIVES): `needs`, or images and
        translations as uses_image and target_text say."""
        if self.needs:
            return self.needs
        return tuple(what for what, needed in (("translations", self.target_text), ("images", self.uses_image))
                     if needed)

    def vocab_sizes(self, stats: dict) -> list[int]:
        """The vocabulary sizes build_model takes, from preprocess stats: the text's, then the target's or the
        answers'."""
        second = "target_vocab_size" if self.target_text else "answer_vocab_size" if self.answers else None
        return [stats["vocab_size"], stats.get(second) if second else None]


@dataclass(frozen=True)
class SampleRequest:
    """What `cmx sample` was given: image paths, prompts to continue, sentences to translate, questions, and
    whether outputs may hold <unk> where the task's never do (--allow-unknown)."""

    images: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()
    allow_unknown: bool = False
