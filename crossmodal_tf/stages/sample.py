"""The sample stage: texts from a generative run's model, by the config's or the caller's decoding settings."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from crossmodal_tf.atomic import write_text_atomic
from crossmodal_tf.config.sections import SampleConfig
from crossmodal_tf.data.records import read_lines
from crossmodal_tf.errors import CmxError
from crossmodal_tf.run import open_run
from crossmodal_tf.tasks import TASKS, load_task
from crossmodal_tf.tasks.base import SampleRequest

# how each input a task can take is given on the command line, and the hint for a task that takes others
OPTIONS = {"image": "--image", "prompt": "--prompt", "text": "--text/--input", "question": "--question"}
REFUSALS = {"image": "takes no image", "prompt": "takes no prompt", "text": "does not translate",
            "question": "answers no question"}
HINTS = {"image": "use --image", "prompt": "use --prompt to continue a text",
         "text": "use --text or --input to translate or summarize", "question": "use --question to ask about the image"}


def sample_settings(defaults: SampleConfig, overrides: dict) -> SampleConfig:
    """The config's sample section with the given options (None = keep) applied; errors name the option."""
    merged = {**defaults.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        settings = SampleConfig(**merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        option = "--" + str(error["loc"][0]).replace("_", "-")
        raise CmxError(f"{option}: {error['msg']}, found {error.get('input')!r}") from None
    if settings.strategy == "top_k" and settings.top_k < 1:
        raise CmxError("--top-k: the top_k strategy needs --top-k 1 or more (the config's sample.top_k is "
                       f"{defaults.top_k})")
    if settings.strategy == "beam" and settings.num_samples > settings.beam_width:
        raise CmxError(f"--num-samples: beam search returns at most --beam-width ({settings.beam_width}) beams, "
                       f"asked for {settings.num_samples}")
    return settings


def read_sentences(texts: list[str], input_file: str | None) -> list[str]:
    """The sentences to translate: the --text values, then the non-empty lines of the --input file."""
    sentences = list(texts)
    if input_file:
        path = Path(input_file)
        if not path.is_file():
            raise CmxError(f"--input {input_file}: file not found")
        for number, line in read_lines(path):
            if line is None:
                raise CmxError(f"--input {input_file}:{number}: the line is not UTF-8 text")
            if line.strip():
                sentences.append(line.strip())
    return sentences


def check_inputs(task, given: dict[str, bool]) -> None:
    """A CmxError naming the option when cmx sample was given an input (given[name]) the run's task does not take."""
    if not task.sample_inputs:
        takers = [name for name in TASKS if load_task(name).sample_inputs]
        raise CmxError(f"task {task.name} does not generate text or answers; cmx sample needs a run of task "
                       f"{', '.join(takers[:-1])} or {takers[-1]}")
    hint = "; ".join(HINTS[name] for name in task.sample_inputs)
    for name, present in given.items():
        if present and name not in task.sample_inputs:
            raise CmxError(f"{OPTIONS[name]}: task {task.name} {REFUSALS[name]}; {hint}")


def sample_run(run_dir: str | Path, images: list[str] = (), prompts: list[str] = (), options: dict | None = None,
               seed: int | None = None, output: str | Path | None = None, warn=print, texts: list[str] = (),
               input_file: str | None = None, questions: list[str] = (), allow_unknown: bool = False) -> list[dict]:
    """Generate texts from a run: captions of images (given or random test images), continuations of prompts,
    or translations of sentences or summaries of documents (texts and the lines of input_file, seq2seq and
    summarize runs); or answer questions about images (vqa runs: records with question, answer, probability and the top answers).

    options override the config's sample section (strategy, temperature, top_k,
    top_p, beam_width, length_penalty, max_length, num_samples). Returns a record
    per sample: input, text, log_prob (summed log-probability of the generated
    tokens under the model), and references for test images. With output, the
    records are also written there as JSON lines. warn receives warnings (unknown
    prompt words). allow_unknown lets a caption or summary hold <unk>, which by default it never does.
    """
    run = open_run(run_dir)
    check_inputs(run.task, {"image": bool(images), "prompt": bool(prompts), "text": bool(texts or input_file),
                            "question": bool(questions)})
    request = SampleRequest(tuple(images), tuple(prompts), tuple(read_sentences(list(texts), input_file)),
                            tuple(questions), allow_unknown)
    settings = sample_settings(run.config.sample, options or {})
    records = run.task.sample(run, request, settings, run.config.seed if seed is None else seed, warn)
    if output:
        write_text_atomic(Path(output), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return records
