"""The sample stage: texts from a generative run's model, by the config's or the caller's decoding settings."""

from __future__ import annotations

import json
import random
from pathlib import Path

from pydantic import ValidationError

from crossmodal_tf.atomic import write_text_atomic
from crossmodal_tf.config import config_from_run
from crossmodal_tf.config.sections import SampleConfig
from crossmodal_tf.data.images import BadImage, image_to_array, open_image
from crossmodal_tf.data.records import read_lines
from crossmodal_tf.errors import CmxError
from crossmodal_tf.run_dir import RunDir

RANDOM_IMAGES = 4  # test images a caption run samples for when no --image is given


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


def load_images(paths: list[str], size: int, max_pixels: int):
    """The images at paths as a uint8 batch (size x size); a missing or unreadable one is a CmxError."""
    import numpy as np

    arrays = []
    for path in paths:
        try:
            arrays.append(image_to_array(open_image(Path(path), max_pixels), size))
        except BadImage as exc:
            raise CmxError(f"--image {path}: {exc}") from None
    return np.stack(arrays)


def encode_prompt(prompt: str, vocab, text_cfg) -> tuple[list[int], list[str], list[str]]:
    """A prompt's ids, its tokens as the model sees them (unknown ones as <unk>), and the unknown words."""
    from crossmodal_tf.data.text import UNK, tokenize

    tokens = tokenize(prompt, text_cfg.level, text_cfg.lowercase)
    unknown = [t for t in tokens if t not in vocab.index]
    return vocab.encode(tokens), [t if t in vocab.index else UNK for t in tokens], unknown


def _test_images(run: RunDir, config, vocab, count: int, seed: int):
    """`count` random images of the run's test split (or val, when test is empty), with their references."""
    from crossmodal_tf.data.pipeline import make_dataset
    from crossmodal_tf.evaluate import run_data
    from crossmodal_tf.tasks.caption import images_with_references

    stats = run_data(run, config)
    split = "test" if stats["counts"]["test"] else "val"
    if not stats["counts"][split]:
        raise CmxError(f"{config.processed_dir}: no test or val images to sample for; pass --image PATH")
    dataset = make_dataset(config.processed_dir, split, stats["counts"][split], config.eval.batch_size,
                           config.data.image.size)
    keys, images, references = images_with_references(dataset, vocab, config.data.text.level)
    chosen = sorted(random.Random(seed).sample(range(len(keys)), min(count, len(keys))))
    return [keys[i] for i in chosen], images[chosen], [references[i] for i in chosen]


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


def sample_run(run_dir: str | Path, images: list[str] = (), prompts: list[str] = (), options: dict | None = None,
               seed: int | None = None, output: str | Path | None = None, warn=print, texts: list[str] = (),
               input_file: str | None = None) -> list[dict]:
    """Generate texts from a run: captions of images (given or random test images), continuations of prompts,
    or translations of sentences (texts and the lines of input_file, seq2seq runs).

    options override the config's sample section (strategy, temperature, top_k,
    top_p, beam_width, length_penalty, max_length, num_samples). Returns a record
    per sample: input, text, log_prob (summed log-probability of the generated
    tokens under the model), and references for test images. With output, the
    records are also written there as JSON lines. warn receives warnings (unknown
    prompt words).
    """
    from crossmodal_tf.tasks import load_task

    run = RunDir(Path(run_dir)).require()
    config = config_from_run(run.root)
    task = load_task(config.task)
    if not getattr(task, "GENERATES_TEXT", False):
        raise CmxError(f"{run.root}: task {config.task} does not generate text; cmx sample needs an lm, caption "
                       "or seq2seq run")
    translates = getattr(task, "TAKES_SOURCE", False)
    if images and not task.TAKES_IMAGE:
        raise CmxError(f"--image: task {config.task} takes no image; "
                       + ("use --text or --input to translate" if translates else "use --prompt to continue a text"))
    if prompts and translates:
        raise CmxError(f"--prompt: task {config.task} translates; give the sentences with --text or --input")
    if (texts or input_file) and not translates:
        raise CmxError(f"--text/--input: task {config.task} does not translate; "
                       + ("use --image" if task.TAKES_IMAGE else "use --prompt to continue a text"))
    settings = sample_settings(config.sample, options or {})
    seed = config.seed if seed is None else seed
    if translates:
        records = _translate(run, config, task, read_sentences(list(texts), input_file), settings, seed, warn)
    else:
        records = _generate(run, config, task, list(images), list(prompts), settings, seed, warn)
    if output:
        write_text_atomic(Path(output), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return records


def _decode_settings(settings: SampleConfig):
    from crossmodal_tf.decoding import DecodeSettings

    return DecodeSettings(settings.strategy, settings.temperature, settings.top_k, settings.top_p,
                          settings.beam_width, settings.length_penalty, settings.max_length)


def _translate(run: RunDir, config, task, sentences: list[str], settings: SampleConfig, seed: int, warn) -> list[dict]:
    """Translations of the sentences by a seq2seq run, num_samples each."""
    from crossmodal_tf.data.text import Vocabulary
    from crossmodal_tf.evaluate import load_run_model
    from crossmodal_tf.tasks.sequence import make_decoder, texts

    if not sentences:
        raise CmxError(f"--text: task {config.task} translates sentences; give --text SENTENCE or --input FILE")
    vocab, target_vocab = Vocabulary.load(run.vocab), Vocabulary.load(run.target_vocab)
    encoded = []
    for sentence in sentences:
        ids, _, unknown = encode_prompt(sentence, vocab, config.data.text)
        if not ids:
            raise CmxError(f"--text {sentence!r}: no words to translate")
        if unknown:
            warn(f"cmx: warning: --text {sentence!r}: not in the vocabulary, read as <unk>: {', '.join(unknown)}")
        encoded.append(ids)
    model = load_run_model(run, config)
    gen = task.generator(model, config)
    decoder = make_decoder(gen, target_vocab)
    sources = task.pad_sources(encoded, config.data.text.max_length)
    result = task.translate(gen, decoder, target_vocab, sources, _decode_settings(settings), config.eval.batch_size,
                            settings.num_samples, seed)
    level = config.data.target_text.level
    return [{"input": sentence, "sample": n + 1, "text": texts(tokens[None], target_vocab, level)[0],
             "log_prob": round(float(log_prob), 4), "strategy": settings.strategy}
            for row, sentence in enumerate(sentences)
            for n, (tokens, log_prob) in enumerate(zip(result.tokens[row], result.log_probs[row]))]


def _generate(run: RunDir, config, task, images: list[str], prompts: list[str], settings: SampleConfig, seed: int,
              warn) -> list[dict]:
    """Captions of images (given or random test images) or continuations of prompts, num_samples each."""
    batch = load_images(images, config.data.image.size, config.data.image.max_pixels) if images else None

    from crossmodal_tf.data.text import Vocabulary, detokenize
    from crossmodal_tf.evaluate import load_run_model
    from crossmodal_tf.tasks.sequence import generate, make_decoder, texts

    vocab = Vocabulary.load(run.vocab)
    encoded = []
    for prompt in prompts or [""]:
        ids, seen, unknown = encode_prompt(prompt, vocab, config.data.text)
        if unknown:
            warn(f"cmx: warning: --prompt {prompt!r}: not in the vocabulary, read as <unk>: {', '.join(unknown)}")
        encoded.append((prompt, ids, seen))

    references = None
    if task.TAKES_IMAGE and batch is None:
        keys, batch, references = _test_images(run, config, vocab, RANDOM_IMAGES, seed)
        labels = [f"test image {k}" for k in keys]
    elif task.TAKES_IMAGE:
        labels = list(images)
    model = load_run_model(run, config)
    gen = task.generator(model, config)
    decoder = make_decoder(gen, vocab)
    decode = _decode_settings(settings)
    level = config.data.text.level
    records = []
    for prompt, ids, seen in encoded:
        inputs = {"image": batch} if batch is not None else None
        rows = len(batch) if batch is not None else 1
        result = generate(gen, decoder, vocab, inputs, rows, decode, settings.num_samples, seed, ids)
        for row in range(rows):
            for n, (tokens, log_prob) in enumerate(zip(result.tokens[row], result.log_probs[row])):
                text = detokenize([*seen, *vocab.decode(tokens)], level) if seen else texts(tokens[None], vocab, level)[0]
                record = {"input": labels[row] if batch is not None else prompt, "sample": n + 1, "text": text,
                          "log_prob": round(float(log_prob), 4), "strategy": settings.strategy}
                if batch is not None and prompt:
                    record["prompt"] = prompt
                if references is not None:
                    record["references"] = references[row]
                records.append(record)
    return records
