"""The task-specific sections of a report, one function per task in TASK_SECTIONS.

Each function takes a ReportData (the run's model, vocabularies and one split's
dataset) and returns its Sections. A new task adds one function and one entry;
a task without an entry gets a note instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossmodal_tf.report import figures
from crossmodal_tf.report.page import Section, card, escape, gallery, image, note, table

MISTAKES = 12  # gallery size of the most confident match mistakes
EXAMPLES = 8  # images captioned
SENTENCES = 20  # sentences translated
SAMPLES = 5  # lm samples per temperature
QUERIES = 6  # retrieval queries shown
TOP_IMAGES = 5  # images per retrieval query
TEMPERATURES = (0.5, 1.0)


@dataclass
class ReportData:
    """What a task's report sections read: the run, its model and vocabularies, and one split."""

    run: object  # RunDir
    config: object  # Config
    model: object  # keras.Model
    vocab: object  # Vocabulary
    target_vocab: object  # Vocabulary of a seq2seq run's target side, else None
    split: str
    dataset: object  # the split's parsed batches (crossmodal_tf.data.pipeline.make_dataset)


def _texts(ids: np.ndarray, vocab, level: str) -> list[str]:
    from crossmodal_tf.tasks.sequence import texts

    return texts(ids, vocab, level)


def match_sections(data: ReportData) -> list[Section]:
    """ROC curve, confusion matrix and the most confident mistakes of a match run."""
    from crossmodal_tf.data.pairs import EXAMPLE_KINDS
    from crossmodal_tf.tasks.match import arrange

    import tensorflow as tf

    threshold = data.config.eval.threshold
    # one graph instead of eager op-by-op calls: the LSTM's loop runs several times faster
    score_of = tf.function(lambda inputs: data.model(inputs, training=False), reduce_retracing=True)
    scores, labels, wrong = [], [], []  # wrong: (error, score, label, kind, text, image) of misjudged pairs
    for batch in data.dataset:
        inputs, label = arrange(batch)
        score, label = np.asarray(score_of(inputs))[:, 0], np.asarray(label)[:, 0]
        scores.append(score)
        labels.append(label)
        kinds, texts, images = (batch[key].numpy() for key in ("kind", "text", "image"))
        for row in np.flatnonzero((score >= threshold) != (label >= 0.5)):
            wrong.append((abs(score[row] - label[row]), score[row], label[row], kinds[row], texts[row], images[row]))
        wrong = sorted(wrong, key=lambda w: -w[0])[:MISTAKES]  # only the gallery's images are kept
    scores, labels = np.concatenate(scores), np.concatenate(labels)
    figures_html = (image(figures.roc_figure(labels, scores), "ROC curve")
                    + image(figures.confusion_figure(labels, scores >= threshold), "confusion matrix"))
    level = data.config.data.text.level
    cards = [card(figures.image_png(pixels), f"mistake {n + 1}",
                  [_texts(ids[None], data.vocab, level)[0],
                   f"score {score:.3f}, truth: {'match' if label >= 0.5 else 'no match'} "
                   f"({EXAMPLE_KINDS[kind].replace('_', ' ')})"])
             for n, (_, score, label, kind, ids, pixels) in enumerate(wrong)]
    mistakes = gallery(cards) if cards else note("No mistakes on this split.")
    return [Section(f"Match scores ({data.split} split, {len(scores)} pairs, threshold {threshold})", figures_html),
            Section("Most confident mistakes", note("The pairs the model got wrong with the most confidence: "
                                                    "the image, the caption it judged, its score.") + mistakes)]


def _greedy(max_length: int):
    from crossmodal_tf.decoding import DecodeSettings

    return DecodeSettings("greedy", max_length=max_length)


def _sampled(temperature: float, max_length: int):
    from crossmodal_tf.decoding import DecodeSettings

    return DecodeSettings("sample", temperature=temperature, max_length=max_length)


def caption_sections(data: ReportData) -> list[Section]:
    """Test images with the greedy caption, samples at two temperatures and the reference captions."""
    from crossmodal_tf.tasks.caption import describe, generator, images_with_references
    from crossmodal_tf.tasks.sequence import make_decoder

    level, max_length, seed = data.config.data.text.level, data.config.sample.max_length, data.config.seed
    keys, images, references = images_with_references(data.dataset, data.vocab, level)
    keys, images, references = keys[:EXAMPLES], images[:EXAMPLES], references[:EXAMPLES]
    if not keys:
        return [Section("Captions", note(f"No images in the {data.split} split."))]
    gen = generator(data.model, data.config)
    decoder = make_decoder(gen, data.vocab, jit_compile=False)  # XLA compiling takes longer than these few rows decode
    batch = data.config.eval.batch_size
    columns = {"greedy": describe(gen, decoder, data.vocab, images, _greedy(max_length), batch)}
    for temperature in TEMPERATURES:
        columns[f"sample, T={temperature}"] = describe(gen, decoder, data.vocab, images,
                                                       _sampled(temperature, max_length), batch, seed=seed)
    generated = {name: _texts(result.tokens[:, 0], data.vocab, level) for name, result in columns.items()}
    rows = [[image(figures.image_png(images[i]), keys[i], "example"), *(generated[name][i] for name in columns),
             "<br>".join(escape(r) for r in references[i])] for i in range(len(keys))]
    return [Section(f"Captions ({data.split} split)",
                    table(["image", *columns, "references"], rows, raw_columns=(0, len(columns) + 1)))]


def lm_sections(data: ReportData) -> list[Section]:
    """Texts the language model generates from nothing: greedy, then samples at two temperatures."""
    from crossmodal_tf.tasks.lm import generator
    from crossmodal_tf.tasks.sequence import generate, make_decoder

    level, max_length, seed = data.config.data.text.level, data.config.sample.max_length, data.config.seed
    gen = generator(data.model, data.config)
    decoder = make_decoder(gen, data.vocab, jit_compile=False)  # XLA compiling takes longer than these few rows decode
    rows = []
    settings = [("greedy", _greedy(max_length), 1)] + [(f"sample, T={t}", _sampled(t, max_length), SAMPLES)
                                                       for t in TEMPERATURES]
    for name, decode, count in settings:
        result = generate(gen, decoder, data.vocab, None, 1, decode, count, seed)
        for text, log_prob in zip(_texts(result.tokens[0], data.vocab, level), result.log_probs[0]):
            rows.append([name, text, round(float(log_prob), 2)])
    return [Section("Generated texts", table(["decoding", "text", "log p"], rows))]


def seq2seq_sections(data: ReportData) -> list[Section]:
    """Source, reference and greedy translation of test sentences, with each sentence's BLEU."""
    from sacrebleu.metrics import BLEU

    from crossmodal_tf.tasks.seq2seq import generator, pad_sources, sources_with_references, translate
    from crossmodal_tf.tasks.sequence import make_decoder

    config = data.config
    level = config.data.target_text.level
    sources, references = sources_with_references(data.dataset, data.target_vocab, level)
    sources, references = sources[:SENTENCES], references[:SENTENCES]
    if not sources:
        return [Section("Translations", note(f"No sentences in the {data.split} split."))]
    gen = generator(data.model, config)
    decoder = make_decoder(gen, data.target_vocab, jit_compile=False)
    decoded = translate(gen, decoder, data.target_vocab, pad_sources(sources, config.data.text.max_length),
                        _greedy(config.sample.max_length), config.eval.batch_size)
    outputs = _texts(decoded.tokens[:, 0], data.target_vocab, level)
    bleu = BLEU(tokenize="zh" if level == "char" else "13a", effective_order=True)
    source_level = config.data.text.level
    rows = [[_texts(np.asarray(source)[None], data.vocab, source_level)[0], " / ".join(refs), output,
             round(bleu.sentence_score(output, refs).score, 1)]
            for source, refs, output in zip(sources, references, outputs)]
    return [Section(f"Translations ({data.split} split, greedy)",
                    note("BLEU per sentence: sacrebleu sentence_bleu against all references, 0–100.")
                    + table(["source", "references", "output", "BLEU"], rows))]


def retrieval_sections(data: ReportData) -> list[Section]:
    """Caption queries with their top-5 images (a strip each), scores, and which images are hits."""
    from crossmodal_tf.search import top_matches
    from crossmodal_tf.tasks.retrieval import build_encoders, embed_split

    embedded = embed_split(build_encoders(data.model), data.dataset)
    pixels = {}
    for batch in data.dataset:
        for key, picture in zip(batch["key"].numpy(), batch["image"].numpy()):
            pixels.setdefault(key.decode(), picture)
    hits = {(int(c), int(i)) for c, i in embedded.pairs}
    level = data.config.data.text.level
    rows = []
    for query in range(min(QUERIES, len(embedded.captions))):
        best, scores = top_matches(embedded.image_embeddings, embedded.text_embeddings[query], TOP_IMAGES)
        strip = gallery([card(figures.image_png(pixels[embedded.keys[i]]), embedded.keys[i],
                              [f"{score:.3f}" + (" ✓" if (query, int(i)) in hits else "")])
                         for i, score in zip(best, scores)])
        rows.append([_texts(np.asarray(embedded.captions[query])[None], data.vocab, level)[0], strip])
    return [Section(f"Text → image search ({data.split} split, {len(embedded.keys)} images)",
                    note(f"Each caption query with its {TOP_IMAGES} closest images and their cosine scores; "
                         "✓ marks an image the caption belongs to.")
                    + table(["query", f"top {TOP_IMAGES} images"], rows, raw_columns=(1,)))]


TASK_SECTIONS = {
    "match": match_sections,
    "caption": caption_sections,
    "lm": lm_sections,
    "seq2seq": seq2seq_sections,
    "retrieval": retrieval_sections,
}
