"""Task `seq2seq`: an encoder-decoder translates English into Chinese: the text type's (model.text.type)
encoder and decoder, e.g. LSTMs with attention, or Transformer blocks whose decoder cross-attends to every
encoder step.

Examples are sentence pairs: from the parallel source, or every English caption of
a shapes image with its Chinese caption. The source side is stored as plain token
ids (the `text` field, source vocabulary), the target side framed as
<start> … <end> (the `target` field, target vocabulary). Decoding reuses the
sampler of the generative tasks through the same single-step generator.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
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
    """Source ids → the text type's encoder → its decoder, which reads the encoder → next-token logits.

    With model.copy the model also takes the source's extended ids ("source_copy") and
    gives log-probabilities over the extended ids (models/copy.py) in place of logits.
    """
    import keras

    from crossmodal_tf.models.text_types import load_text_type

    source = keras.Input(shape=(None,), dtype="int32", name="source")
    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    inputs = {"source": source, "text": tokens}
    if config.model.copy:
        inputs[COPY_INPUT] = keras.Input(shape=(None,), dtype="int32", name=COPY_INPUT)
    text_type = load_text_type(config.model.text.type)
    encoded = text_type.build_encoder(config.model, source, vocab_size, name="encoder", for_decoder=True)
    logits = text_type.build_decoder(config.model, tokens, target_vocab_size, source=encoded,
                                     copy_ids=inputs.get(COPY_INPUT), copy_extra=config.data.text.max_length)
    return keras.Model(inputs, logits, name="seq2seq_model")


COPY_INPUT = "source_copy"  # a copy model's input: the source's extended ids (data/copy_ids.py)


def arrange(batch):
    """A parsed batch → (source and decoder inputs, next-token targets of the translation).

    A batch made for model.copy (it has source_copy) predicts the targets' extended ids,
    while the decoder reads the target as it knows it, unknown words as <unk>.
    """
    inputs, targets = sequence.teacher_forcing(batch["target"])
    if COPY_INPUT not in batch:
        return {"source": batch["text"], "text": inputs}, targets
    _, targets = sequence.teacher_forcing(batch["target_copy"])
    return {"source": batch["text"], "text": inputs, COPY_INPUT: batch[COPY_INPUT]}, targets


def generator(model, config):
    """The trained decoder in single-step form; its start state (and attended memory) comes from the source."""
    from crossmodal_tf.models.cached_step import Generator

    return Generator(model, ("source", COPY_INPUT) if config.model.copy else ("source",))


def pad_sources(sources: list[list[int]], length: int) -> np.ndarray:
    """Source ids as one (rows, length) array, cut to length and padded with 0."""
    import numpy as np

    out = np.zeros((len(sources), length), np.int32)
    for row, ids in enumerate(sources):
        ids = ids[:length]
        out[row, : len(ids)] = ids
    return out


@dataclass
class Sources:
    """Source sentences as the model reads them: id rows, and for a copy model each row's extended ids and
    its words outside the target vocabulary (data/copy_ids.py); None without copy. raw: the sentences as
    written, when the dataset stores them (sources_with_references), else None."""

    ids: list[list[int]]
    copy_ids: list[list[int]] | None = None
    oovs: list[list[str]] | None = None
    raw: list[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, rows: slice) -> Sources:
        return Sources(self.ids[rows], *(None if part is None else part[rows]
                                         for part in (self.copy_ids, self.oovs, self.raw)))

    def texts(self, tokens, target_vocab, level: str, unknown: str | None = None) -> list[str]:
        """Generated rows (rows, steps) of target ids as text: copied ids as this row's source words, each <unk>
        as `unknown` when given (sequence.texts)."""
        if self.oovs is None:
            return sequence.texts(tokens, target_vocab, level, unknown)
        from crossmodal_tf.data.copy_ids import extended_texts

        return extended_texts(tokens, target_vocab, self.oovs, level, unknown or UNK)


def encode_sources(sentences: list[str], run, warn) -> Sources:
    """Users' sentences as Sources; an unknown word is read as <unk> with a warning, and copied if it can be."""
    from crossmodal_tf.data.copy_ids import source_copy_ids
    from crossmodal_tf.data.text import tokenize

    text_cfg, copy = run.config.data.text, run.config.model.copy
    encoded = Sources([], [] if copy else None, [] if copy else None)
    for sentence in sentences:
        ids, _, unknown = encode_prompt(sentence, run.vocab, text_cfg)
        if not ids:
            raise CmxError(f"--text {sentence!r}: no words to read")
        if unknown:
            warn(f"cmx: warning: --text {sentence!r}: not in the vocabulary, read as <unk>: {', '.join(unknown)}")
        encoded.ids.append(ids)
        if copy:
            tokens = tokenize(sentence, text_cfg.level, text_cfg.lowercase)[: text_cfg.max_length]
            copy_ids, oov = source_copy_ids(tokens, run.target_vocab)
            encoded.copy_ids.append(copy_ids)
            encoded.oovs.append(oov)
    return encoded


def translate(gen, decoder, target_vocab, sources: np.ndarray, settings, batch_size: int, num_samples: int = 1,
              seed: int = 0, copy_ids: np.ndarray | None = None):
    """Translations of padded source rows (and of a copy model's extended ids of them): the Decoded result,
    (rows, num_samples, steps)."""
    import numpy as np

    filler = np.zeros(sources.shape[1:], sources.dtype)
    filler[0] = RESERVED.index(UNK)  # a row of padding alone would have nothing to attend to
    return sequence.decode_rows(gen, decoder, target_vocab, "source", sources, settings, batch_size, num_samples,
                                seed, filler=filler, others=None if copy_ids is None else {COPY_INPUT: copy_ids})


def sources_with_references(dataset, target_vocab, level: str) -> tuple[Sources, list[list[str]]]:
    """(Sources, references) of the distinct source sentences of a dataset, each with all its translations.

    References are the translations as written (the raw target_text the shards store,
    Run.dataset's raw_text): read back from the target ids they would be cut at
    max_length, with rare words as <unk> and punctuation and case normalised away, which
    no output, nor a baseline, could match. Shards written before the raw texts were
    stored (target_text "") fall back to the ids read back, and Sources.raw is then None.
    A dataset made for model.copy gives its extended ids too.
    """
    import numpy as np

    # key: (source ids, (copy ids, oovs) or None, raw source or None)
    references: dict[tuple, list[str]] = defaultdict(list)
    for batch in dataset:
        size = len(batch["text"])
        copy = COPY_INPUT in batch
        raw = [batch[k].numpy() if k in batch else [b""] * size for k in ("source_text", "target_text")]
        extended = ([batch[COPY_INPUT].numpy(), batch["source_oov"].numpy()] if copy else [[None] * size] * 2)
        targets = batch["target_copy" if copy else "target"].numpy()
        for source, target, raw_source, raw_target, copy_row, oov_row in zip(batch["text"].numpy(), targets, *raw,
                                                                             *extended):
            ids = tuple(int(t) for t in source if t)
            copied = None
            if copy:  # sources that read the same may copy different words
                copied = (tuple(int(t) for t in copy_row[: len(ids)]), tuple(w.decode() for w in oov_row if w))
            raw_source = raw_source.decode() if raw_target else None
            key = (ids, copied, raw_source)
            if raw_target:
                text = raw_target.decode()
            elif copy:  # the target words the source has, those outside the target vocabulary too
                text = Sources([], None, [list(copied[1])]).texts(np.asarray(target)[None], target_vocab, level)[0]
            else:
                text = sequence.texts(target[None, :], target_vocab, level)[0]
            if text not in references[key]:
                references[key].append(text)
    keys = list(references)
    sources = Sources([list(k[0]) for k in keys])
    if keys and keys[0][1] is not None:
        sources.copy_ids, sources.oovs = [list(k[1][0]) for k in keys], [list(k[1][1]) for k in keys]
    if keys and all(k[2] is not None for k in keys):
        sources.raw = [k[2] for k in keys]
    return sources, list(references.values())


def greedy_translations(run, model, sources: Sources, jit_compile: bool | None = None, unknown: str | None = None
                        ) -> list[str]:
    """Greedy translations of Sources, as text (copied words included; each <unk> as `unknown` when given).

    jit_compile None compiles the decode loop when there are enough sources to pay it back."""
    from crossmodal_tf.decoding import make_decoder, worth_compiling

    config = run.config
    gen = generator(model, config)
    jit_compile = worth_compiling(len(sources)) if jit_compile is None else jit_compile
    decoder = make_decoder(gen, run.target_vocab, jit_compile, run.task.writes_unknown)
    settings = sequence.greedy(config.data.target_text.max_length + 1)  # the tokens and <end>
    decoded = decode_sources(gen, decoder, run, sources, settings)
    return sources.texts(decoded.tokens[:, 0], run.target_vocab, config.data.target_text.level, unknown)


def decode_sources(gen, decoder, run, sources: Sources, settings, num_samples: int = 1, seed: int = 0):
    """Decoded translations of Sources: translate on their padded rows."""
    length = run.config.data.text.max_length
    copy_ids = None if sources.copy_ids is None else pad_sources(sources.copy_ids, length)
    return translate(gen, decoder, run.target_vocab, pad_sources(sources.ids, length), settings,
                     run.config.eval.batch_size, num_samples, seed, copy_ids)


def bleu_tokenizer(level: str) -> str:
    """sacrebleu's tokenizer for the target side: its standard 13a for words, else zh (Chinese characters apart)."""
    return "13a" if level == "word" else "zh"


def evaluate(run, model, dataset) -> dict:
    """Token metrics of the target side with teacher forcing, then sacrebleu BLEU and chrF of greedy translations
    against the references as written (sources_with_references)."""
    from crossmodal_tf.text_scores import NO_MATCH, translation_scores

    results = sequence.evaluate_tokens(run, model, dataset, arrange, text_field="target")
    level = run.config.data.target_text.level
    sources, references = sources_with_references(dataset, run.target_vocab, level)
    hypotheses = greedy_translations(run, model, sources, unknown=NO_MATCH)  # a generated <unk> matches nothing
    results.update(translation_scores(hypotheses, references, bleu_tokenizer(level)))
    results["sentences"] = len(hypotheses)
    # "ids": a folder preprocessed before raw texts were stored; `cmx preprocess --force` scores against raw text
    results["references"] = "raw" if sources.raw is not None else "ids"
    return results


def sample(run, request, settings, seed: int, warn) -> list[dict]:
    """Translations of the request's sentences, num_samples each."""
    if not request.texts:
        raise CmxError(f"--text: task {run.config.task} reads texts; give --text TEXT or --input FILE")
    from crossmodal_tf.decoding import make_decoder, worth_compiling

    sources = encode_sources(list(request.texts), run, warn)
    gen = generator(run.model(), run.config)
    decoder = make_decoder(gen, run.target_vocab, worth_compiling(len(sources) * settings.num_samples),
                           run.task.writes_unknown or request.allow_unknown)
    result = decode_sources(gen, decoder, run, sources, sequence.decode_settings(settings), settings.num_samples,
                            seed)
    level = run.config.data.target_text.level
    return [{"input": sentence, "sample": n + 1,
             "text": sources[row:row + 1].texts(tokens[None], run.target_vocab, level)[0],
             "log_prob": round(float(log_prob), 4), "strategy": settings.strategy}
            for row, sentence in enumerate(request.texts)
            for n, (tokens, log_prob) in enumerate(zip(result.tokens[row], result.log_probs[row]))]


def report_sections(run, model, split: str, dataset) -> list:
    """Source, reference and greedy translation of test sentences, with each sentence's BLEU."""
    import numpy as np
    from sacrebleu.metrics import BLEU

    from crossmodal_tf.report_page import Section, note, table
    from crossmodal_tf.text_scores import NO_MATCH

    config = run.config
    level = config.data.target_text.level
    sources, references = sources_with_references(dataset, run.target_vocab, level)
    sources, references = sources[:SENTENCES], references[:SENTENCES]
    if not len(sources):
        return [Section("Translations", note(f"No sentences in the {split} split."))]
    outputs = greedy_translations(run, model, sources, jit_compile=False, unknown=NO_MATCH)
    bleu = BLEU(tokenize=bleu_tokenizer(level), effective_order=True)
    source_level = config.data.text.level
    # scored with a generated <unk> matching nothing (as evaluate), shown as <unk>
    rows = [[sequence.texts(np.asarray(source)[None], run.vocab, source_level)[0], " / ".join(refs),
             output.replace(NO_MATCH, UNK), round(bleu.sentence_score(output, refs).score, 1)]
            for source, refs, output in zip(sources.ids, references, outputs)]
    return [Section(f"Translations ({split} split, greedy)",
                    note("BLEU per sentence: sacrebleu sentence_bleu against all references, 0–100.")
                    + table(["source", "references", "output", "BLEU"], rows))]


def export_endpoint(run, model):
    """Source sentences → {"text", "tokens", "log_prob"}: greedy translations."""
    import tensorflow as tf

    from crossmodal_tf.data.text import START
    from crossmodal_tf.serving.endpoint import TEXT, Endpoint, greedy_outputs
    from crossmodal_tf.serving.text_ops import GraphVocabulary, make_lookup, source_copy_ids, tokenize_text

    config, vocab, target_vocab = run.config, run.vocab, run.target_vocab
    text_cfg, gen = config.data.text, generator(model, config)
    source, target = GraphVocabulary(vocab, text_cfg), GraphVocabulary(target_vocab, config.data.target_text)
    # copy attention's extended ids: the source's words looked up in the target vocabulary (words and characters
    # only; the config refuses model.copy with subwords)
    target_table = make_lookup(target_vocab.tokens) if config.model.copy else None

    def serve(text):
        ids = source.ids(text, text_cfg.max_length)
        # padded to max_length as pad_sources does; an empty source reads <unk>, as translate pads rows
        sources = ids.to_tensor(0, shape=[None, text_cfg.max_length])
        empty = tf.equal(ids.row_lengths(), 0)
        sources = tf.where(empty[:, None] & tf.equal(tf.range(text_cfg.max_length), 0)[None, :],
                           vocab.index[UNK], sources)
        inputs, copied_words = {"source": sources}, None
        if target_table is not None:
            tokens = tokenize_text(text, text_cfg.level, text_cfg.lowercase, text_cfg.max_length)
            inputs[COPY_INPUT], copied_words = source_copy_ids(tokens, target_table, len(target_vocab),
                                                               text_cfg.max_length)
        first = tf.fill([tf.shape(text)[0]], target_vocab.index[START])
        settings = sequence.greedy(config.sample.max_length, config.sample)
        return greedy_outputs(gen, target, settings, gen.start(inputs), first,
                              copied_words=copied_words, unknown=run.task.writes_unknown)

    return Endpoint(serve, [TEXT], source.resources + target.resources + ([target_table] if target_table else []))


TASK = Task(
    name="seq2seq", uses_image=False, frame_text=False, target_text=True, metric_names=("token_accuracy",),
    headline_metric="bleu", reads=("data.target_text", "model.attention", "model.copy", "sample"), generates_text=True,
    sample_inputs=("text",),
    make_examples=make_examples, build_model=build_model, loss=sequence.loss, train_metrics=sequence.train_metrics,
    arrange=arrange, evaluate=evaluate, report_sections=report_sections, export_endpoint=export_endpoint,
    sample=sample)
