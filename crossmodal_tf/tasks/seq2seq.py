"""Task `seq2seq`: an encoder-decoder translates English into Chinese: LSTMs with attention, or Transformer
blocks (`model.text.type: transformer`) whose decoder cross-attends to every encoder step.

Examples are sentence pairs: from the parallel source, or every English caption of
a shapes image with its Chinese caption. The source side is stored as plain token
ids (the `text` field, source vocabulary), the target side framed as
<start> … <end> (the `target` field, target vocabulary). Decoding reuses the
sampler of the generative tasks through the same single-step generator.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from crossmodal_tf.data.text import RESERVED, UNK, encode_prompt
from crossmodal_tf.errors import CmxError
from crossmodal_tf.tasks import sequence
from crossmodal_tf.tasks.base import Task

if TYPE_CHECKING:  # for annotations: numpy is imported where it is used, so reading TASK stays fast
    import numpy as np

SENTENCES = 20  # sentences the report translates


def make_examples(record, rng, pool, data_cfg, hard_negative) -> list[tuple[str, int, str, str]]:
    """Every source sentence of a record (each English caption of a shapes image) paired with its translation."""
    if not record.translation:
        return []
    return [(caption, 1, "positive", record.translation) for caption in record.captions]


def build_model(config, vocab_size: int, target_vocab_size: int | None = None):
    """Source ids → LSTM encoder → (final states, attended steps) → LSTM decoder → next-token logits."""
    import keras

    from crossmodal_tf.models.decoder import build_lstm_decoder
    from crossmodal_tf.models.encoder import build_lstm_encoder

    source = keras.Input(shape=(None,), dtype="int32", name="source")
    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    cfg = config.model.text
    if cfg.type == "transformer":
        from crossmodal_tf.models.transformer import build_transformer_decoder, build_transformer_encoder

        memory, memory_mask = build_transformer_encoder(cfg, source, vocab_size)
        logits = build_transformer_decoder(cfg, tokens, target_vocab_size, memory, memory_mask)
        return keras.Model({"source": source, "text": tokens}, logits, name="seq2seq_model")
    memory, states = build_lstm_encoder(cfg, source, vocab_size)
    attention = config.model.attention
    logits = build_lstm_decoder(cfg, tokens, target_vocab_size, initial_states=states,
                                memory=memory if attention != "none" else None, attention=attention)
    return keras.Model({"source": source, "text": tokens}, logits, name="seq2seq_model")


def arrange(batch):
    """A parsed batch → (source and decoder inputs, next-token targets of the translation)."""
    inputs, targets = sequence.teacher_forcing(batch["target"])
    return {"source": batch["text"], "text": inputs}, targets


def generator(model, config):
    """The trained decoder in single-step form; its start state (and attended memory) comes from the source."""
    from crossmodal_tf.models.decoder import LstmGenerator

    if config.model.text.type == "transformer":
        from crossmodal_tf.models.transformer import TransformerGenerator

        return TransformerGenerator(model, config.model.text, ("source",), model.get_layer("encoder_norm").output,
                                    memory_tokens="source")
    outputs = {}
    for i in range(config.model.text.layers):
        _, outputs[f"h{i}"], outputs[f"c{i}"] = model.get_layer(f"encoder_lstm_{i}").output
    if config.model.attention != "none":
        outputs["memory"] = model.get_layer(f"encoder_lstm_{config.model.text.layers - 1}").output[0]
    return LstmGenerator(model, config.model.text, outputs, ("source",), memory_tokens="source")


def pad_sources(sources: list[list[int]], length: int) -> np.ndarray:
    """Source ids as one (rows, length) array, cut to length and padded with 0."""
    import numpy as np

    out = np.zeros((len(sources), length), np.int32)
    for row, ids in enumerate(sources):
        ids = ids[:length]
        out[row, : len(ids)] = ids
    return out


def translate(gen, decoder, target_vocab, sources: np.ndarray, settings, batch_size: int, num_samples: int = 1,
              seed: int = 0):
    """Translations of padded source rows: the Decoded result, (rows, num_samples, steps)."""
    import numpy as np

    filler = np.zeros(sources.shape[1:], sources.dtype)
    filler[0] = RESERVED.index(UNK)  # a row of padding alone would have nothing to attend to
    return sequence.decode_rows(gen, decoder, target_vocab, "source", sources, settings, batch_size, num_samples,
                                seed, filler=filler)


def sources_with_references(dataset, target_vocab, level: str):
    """(source id rows, references) of the distinct source sentences of a dataset, each with all its translations."""
    references: dict[tuple, list[str]] = defaultdict(list)
    for batch in dataset:
        for source, target in zip(batch["text"].numpy(), batch["target"].numpy()):
            key = tuple(int(t) for t in source if t)
            text = sequence.texts(target[None, :], target_vocab, level)[0]
            if text not in references[key]:
                references[key].append(text)
    return [list(k) for k in references], list(references.values())


def greedy_translations(run, model, sources: list[list[int]], jit_compile: bool = True) -> list[str]:
    """Greedy translations of source id rows, as text."""
    config = run.config
    gen = generator(model, config)
    decoder = sequence.make_decoder(gen, run.target_vocab, jit_compile)
    settings = sequence.greedy(config.data.target_text.max_length + 1)  # the tokens and <end>
    decoded = translate(gen, decoder, run.target_vocab, pad_sources(sources, config.data.text.max_length), settings,
                        config.eval.batch_size)
    return sequence.texts(decoded.tokens[:, 0], run.target_vocab, config.data.target_text.level)


def bleu_tokenizer(level: str) -> str:
    """sacrebleu's tokenizer for the target side: its standard 13a for words, else zh (Chinese characters apart)."""
    return "13a" if level == "word" else "zh"


def evaluate(run, model, dataset) -> dict:
    """Token metrics of the target side with teacher forcing, then sacrebleu BLEU and chrF of greedy translations."""
    from crossmodal_tf.text_scores import translation_scores

    results = sequence.evaluate_tokens(run, model, dataset, arrange, text_field="target")
    level = run.config.data.target_text.level
    sources, references = sources_with_references(dataset, run.target_vocab, level)
    hypotheses = greedy_translations(run, model, sources)
    results.update(translation_scores(hypotheses, references, bleu_tokenizer(level)))
    results["sentences"] = len(hypotheses)
    return results


def sample(run, request, settings, seed: int, warn) -> list[dict]:
    """Translations of the request's sentences, num_samples each."""
    if not request.texts:
        raise CmxError(f"--text: task {run.config.task} reads texts; give --text TEXT or --input FILE")
    encoded = []
    for sentence in request.texts:
        ids, _, unknown = encode_prompt(sentence, run.vocab, run.config.data.text)
        if not ids:
            raise CmxError(f"--text {sentence!r}: no words to read")
        if unknown:
            warn(f"cmx: warning: --text {sentence!r}: not in the vocabulary, read as <unk>: {', '.join(unknown)}")
        encoded.append(ids)
    gen = generator(run.model(), run.config)
    decoder = sequence.make_decoder(gen, run.target_vocab)
    sources = pad_sources(encoded, run.config.data.text.max_length)
    result = translate(gen, decoder, run.target_vocab, sources, sequence.decode_settings(settings),
                       run.config.eval.batch_size, settings.num_samples, seed)
    level = run.config.data.target_text.level
    return [{"input": sentence, "sample": n + 1, "text": sequence.texts(tokens[None], run.target_vocab, level)[0],
             "log_prob": round(float(log_prob), 4), "strategy": settings.strategy}
            for row, sentence in enumerate(request.texts)
            for n, (tokens, log_prob) in enumerate(zip(result.tokens[row], result.log_probs[row]))]


def report_sections(run, model, split: str, dataset) -> list:
    """Source, reference and greedy translation of test sentences, with each sentence's BLEU."""
    import numpy as np
    from sacrebleu.metrics import BLEU

    from crossmodal_tf.report.page import Section, note, table

    config = run.config
    level = config.data.target_text.level
    sources, references = sources_with_references(dataset, run.target_vocab, level)
    sources, references = sources[:SENTENCES], references[:SENTENCES]
    if not sources:
        return [Section("Translations", note(f"No sentences in the {split} split."))]
    outputs = greedy_translations(run, model, sources, jit_compile=False)
    bleu = BLEU(tokenize=bleu_tokenizer(level), effective_order=True)
    source_level = config.data.text.level
    rows = [[sequence.texts(np.asarray(source)[None], run.vocab, source_level)[0], " / ".join(refs), output,
             round(bleu.sentence_score(output, refs).score, 1)]
            for source, refs, output in zip(sources, references, outputs)]
    return [Section(f"Translations ({split} split, greedy)",
                    note("BLEU per sentence: sacrebleu sentence_bleu against all references, 0–100.")
                    + table(["source", "references", "output", "BLEU"], rows))]


def export_endpoint(run, model):
    """Source sentences → {"text", "tokens", "log_prob"}: greedy translations."""
    import tensorflow as tf

    from crossmodal_tf.data.text import START
    from crossmodal_tf.export.serving import TEXT, Endpoint, greedy_outputs
    from crossmodal_tf.export.text_ops import GraphVocabulary

    config, vocab, target_vocab = run.config, run.vocab, run.target_vocab
    text_cfg, gen = config.data.text, generator(model, config)
    source, target = GraphVocabulary(vocab, text_cfg), GraphVocabulary(target_vocab, config.data.target_text)

    def serve(text):
        ids = source.ids(text, text_cfg.max_length)
        # padded to max_length as pad_sources does; an empty source reads <unk>, as translate pads rows
        sources = ids.to_tensor(0, shape=[None, text_cfg.max_length])
        empty = tf.equal(ids.row_lengths(), 0)
        sources = tf.where(empty[:, None] & tf.equal(tf.range(text_cfg.max_length), 0)[None, :],
                           vocab.index[UNK], sources)
        first = tf.fill([tf.shape(text)[0]], target_vocab.index[START])
        return greedy_outputs(gen, target, config.sample.max_length, gen.start({"source": sources}), first)

    return Endpoint(serve, [TEXT], source.resources + target.resources)


TASK = Task(
    name="seq2seq", uses_image=False, frame_text=False, target_text=True, metric_names=("token_accuracy",),
    headline_metric="bleu", reads=("data.target_text", "model.attention", "sample"), generates_text=True,
    sample_inputs=("text",),
    make_examples=make_examples, build_model=build_model, loss=sequence.loss, train_metrics=sequence.train_metrics,
    arrange=arrange, evaluate=evaluate, report_sections=report_sections, export_endpoint=export_endpoint,
    sample=sample)
