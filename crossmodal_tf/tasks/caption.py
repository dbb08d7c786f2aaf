"""Task `caption`: a decoder conditioned on the image describes it.

The text type (model.text.type) builds the decoder and chooses how it reads the
image: an LSTM's states are set from the pooled features, a Transformer
cross-attends to every position of the image branch's last feature map.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from crossmodal_tf.errors import CmxError
from crossmodal_tf.tasks import sequence
from crossmodal_tf.tasks.base import Task

if TYPE_CHECKING:  # for annotations: numpy is imported where it is used, so reading TASK stays fast
    import numpy as np

RANDOM_IMAGES = 4  # test images `cmx sample` captions when no --image is given
EXAMPLES = 8  # images the report captions
TEMPERATURES = (0.5, 1.0)


def build_model(config, vocab_size: int, target_vocab_size: int | None = None):
    """Image branch → the text type's decoder conditioned on it (models/text_types) → next-token logits."""
    import keras

    from crossmodal_tf.models.branches import build_image_branch
    from crossmodal_tf.models.text_types import load_text_type

    size = config.data.image.size
    images = keras.Input(shape=(size, size, 3), dtype="uint8", name="image")
    tokens = keras.Input(shape=(None,), dtype="int32", name="text")

    def image_branch(grid=False):
        return build_image_branch(config.model.image, images, grid=grid)

    logits = load_text_type(config.model.text.type).build_decoder(config.model, tokens, vocab_size,
                                                                  image=image_branch)
    return keras.Model({"text": tokens, "image": images}, logits, name="caption_model")


def arrange(batch):
    """A parsed batch → (image and decoder inputs, next-token targets)."""
    inputs, targets = sequence.teacher_forcing(batch["text"])
    return {"text": inputs, "image": batch["image"]}, targets


def generator(model, config):
    """The trained model in single-step form; its start state comes from the image."""
    from crossmodal_tf.models.cached_step import Generator

    return Generator(model, ("image",))


def images_with_references(dataset):
    """(keys, images, references) of the distinct images of a dataset (Run.dataset's, with raw_text), each with
    all its captions as the source gave them: never read back from ids, where rare words are <unk> and long
    captions are cut at max_length."""
    import numpy as np

    order, images, references = [], {}, {}
    for batch in dataset:
        for key, image, raw in zip(batch["key"].numpy(), batch["image"].numpy(), batch["raw_text"].numpy()):
            key = key.decode()
            if key not in images:
                order.append(key)
                images[key] = image
                references[key] = []
            references[key].append(raw.decode())
    stacked = np.stack([images[k] for k in order]) if order else np.zeros((0, 1, 1, 3), np.uint8)
    return order, stacked, [references[k] for k in order]


def score_captions(hypotheses: list[str], references: list[list[str]], level: str) -> dict:
    """BLEU-1…4, CIDEr-D and the unique-caption share of captions (each <unk> written as text_scores.NO_MATCH)
    against the references as written, both sides normalised alike (text_scores.reference_text, output_text)."""
    from collections import Counter

    from crossmodal_tf.text_scores import caption_scores, output_text, reference_text

    outputs = [output_text(h) for h in hypotheses]
    normalised = [[r for r in map(reference_text, refs) if r] for refs in references]
    results = caption_scores(outputs, normalised, "char" if level == "char" else "word")
    # BLEU rewards a generic caption given to every photo ("a man in a"); this share shows it
    counts = Counter(outputs)
    results["unique_caption_share"] = sum(counts[o] == 1 for o in outputs) / len(outputs) if outputs else 0.0
    return results


def describe(gen, decoder, vocab, images: np.ndarray, settings, batch_size: int, num_samples: int = 1,
             seed: int = 0):
    """Captions for images: the Decoded result, (images, num_samples, steps)."""
    return sequence.decode_rows(gen, decoder, vocab, "image", images, settings, batch_size, num_samples, seed)


def evaluate(run, model, dataset) -> dict:
    """Token metrics with teacher forcing, then BLEU-1…4, CIDEr-D and the unique-caption share (score_captions)
    of the greedy captions of each distinct image, decoded with the sample section's bans (no_repeat_ngram_size,
    min_length) and without <unk> as `cmx sample` writes them."""
    from crossmodal_tf.decoding import make_decoder, worth_compiling
    from crossmodal_tf.text_scores import NO_MATCH

    config = run.config
    results = sequence.evaluate_tokens(run, model, dataset, arrange)
    level = config.data.text.level
    _, images, references = images_with_references(dataset)
    gen = generator(model, config)
    decoder = make_decoder(gen, run.vocab, worth_compiling(len(images)), run.task.writes_unknown)
    settings = sequence.greedy(config.data.text.max_length + 1, config.sample)  # the words and <end>
    decoded = describe(gen, decoder, run.vocab, images, settings, config.eval.batch_size)
    hypotheses = sequence.texts(decoded.tokens[:, 0], run.vocab, level, unknown=NO_MATCH)
    results.update(score_captions(hypotheses, references, level))
    results["images"] = len(hypotheses)
    return results


def sample(run, request, settings, seed: int, warn) -> list[dict]:
    """Captions of the request's images (random test images when none), continuing its prompts if any."""
    from crossmodal_tf.data.images import load_image_batch

    image_cfg = run.config.data.image
    references = None
    if request.images:
        batch = load_image_batch(list(request.images), image_cfg.size, image_cfg.max_pixels,
                                 resize=image_cfg.resize)
        labels = list(request.images)
    else:
        split = run.eval_split()
        keys, images, refs = images_with_references(run.dataset(split))
        if not keys:
            raise CmxError(f"{run.config.processed_dir}: no test or val images to sample for; pass --image PATH")
        chosen = sorted(random.Random(seed).sample(range(len(keys)), min(RANDOM_IMAGES, len(keys))))
        batch, labels, references = images[chosen], [f"test image {keys[i]}" for i in chosen], [refs[i] for i in chosen]
    gen = generator(run.model(), run.config)
    return sequence.continue_prompts(run, gen, request.prompts, settings, seed, warn, {"image": batch}, labels,
                                     references, unknown=run.task.writes_unknown or request.allow_unknown)


def report_sections(run, model, split: str, dataset) -> list:
    """Test images with the greedy caption, samples at two temperatures and the captions as written (all decoded
    with the sample section's bans and without <unk>, as evaluate decodes)."""
    from dataclasses import replace

    from crossmodal_tf import figures
    from crossmodal_tf.decoding import make_decoder
    from crossmodal_tf.report_page import Section, escape, example, note, table

    sample_cfg = run.config.sample
    level, max_length, seed = run.config.data.text.level, sample_cfg.max_length, run.config.seed
    keys, images, references = images_with_references(dataset)
    keys, images, references = keys[:EXAMPLES], images[:EXAMPLES], references[:EXAMPLES]
    if not keys:
        return [Section("Captions", note(f"No images in the {split} split."))]
    gen = generator(model, run.config)
    decoder = make_decoder(gen, run.vocab, jit_compile=False, unknown=run.task.writes_unknown)  # a few rows
    batch = run.config.eval.batch_size
    greedy = sequence.greedy(max_length, sample_cfg)
    columns = {"greedy": describe(gen, decoder, run.vocab, images, greedy, batch)}
    for temperature in TEMPERATURES:
        settings = replace(greedy, strategy="sample", temperature=temperature)
        columns[f"sample, T={temperature}"] = describe(gen, decoder, run.vocab, images, settings, batch, seed=seed)
    generated = {name: sequence.texts(result.tokens[:, 0], run.vocab, level) for name, result in columns.items()}
    rows = [[example(figures.example_image(images[i]), keys[i]), *(generated[name][i] for name in columns),
             "<br>".join(escape(r) for r in references[i])] for i in range(len(keys))]
    return [Section(f"Captions ({split} split)",
                    table(["image", *columns, "references"], rows, raw_columns=(0, len(columns) + 1)))]


def export_endpoint(run, model):
    """Encoded images → {"text", "tokens", "log_prob"}: greedy captions."""
    import tensorflow as tf

    from crossmodal_tf.data.text import START
    from crossmodal_tf.serving.image_ops import decode_images
    from crossmodal_tf.serving.endpoint import IMAGE, Endpoint, greedy_outputs
    from crossmodal_tf.serving.text_ops import GraphVocabulary

    config, vocab, gen = run.config, run.vocab, generator(model, run.config)
    graph_vocab = GraphVocabulary(vocab, config.data.text)

    def serve(image):
        images = decode_images(image, config.data.image)
        first = tf.fill([tf.shape(images)[0]], vocab.index[START])
        settings = sequence.greedy(config.sample.max_length, config.sample)
        return greedy_outputs(gen, graph_vocab, settings, gen.start({"image": images}), first,
                              unknown=run.task.writes_unknown)

    return Endpoint(serve, [IMAGE], graph_vocab.resources)


TASK = Task(
    name="caption", uses_image=True, frame_text=True, metric_names=("token_accuracy",), headline_metric="bleu4",
    reads=("data.image", "model.image", "model.condition", "sample"), generates_text=True,
    sample_inputs=("image", "prompt"), writes_unknown=False, raw_references=True,
    make_examples=sequence.make_examples, build_model=build_model, loss=sequence.loss,
    train_metrics=sequence.train_metrics, arrange=arrange, evaluate=evaluate, report_sections=report_sections,
    export_endpoint=export_endpoint, sample=sample)
