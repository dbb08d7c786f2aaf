"""Task `summarize`: document → summary with seq2seq's LSTM encoder-decoder and its decoding.

A thin task: the model, the teacher-forced batches, greedy decoding, `cmx sample`
and the exported endpoint are seq2seq's; what is its own is the examples and the
scores. The shapes source's documents are paragraphs about a scene, each paired
with every caption of the scene (each caption a reference summary, as seq2seq pairs
every caption with its translation); the parallel source's pairs are read as
document → summary as they are. Greedy summaries are scored with ROUGE-1/2/L
(rouge-score, stemmed), beside the lead baseline: each document's first N words,
N the mean length of the train split's summaries.
"""

from __future__ import annotations

from crossmodal_tf.data.text import UNK
from crossmodal_tf.tasks import seq2seq, sequence
from crossmodal_tf.tasks.base import Task

DOCUMENTS = 20  # documents the report summarises


def document_pairs(record) -> list[tuple[str, str]]:
    """(document, summary) pairs of a record: its document with each caption, or its sentence pair (parallel)."""
    if record.document:
        return [(record.document, caption) for caption in record.captions]
    if record.translation:
        return [(caption, record.translation) for caption in record.captions]
    return []


def make_examples(record, rng, pool, data_cfg, hard_negative) -> list[tuple[str, int, str, str]]:
    """Every (document, summary) pair of a record, stored as seq2seq stores (source, translation)."""
    return [(document, 1, "positive", summary) for document, summary in document_pairs(record)]


def vocab_texts(record) -> tuple[list[str], list[str]]:
    """(documents, summaries) of a record: the texts of its source and target vocabularies."""
    pairs = document_pairs(record)
    return list(dict.fromkeys(document for document, _ in pairs)), [summary for _, summary in pairs]


def summary_length(dataset, target_vocab, level: str) -> int:
    """The mean length in words of a dataset's summaries (its "target" field): the lead baseline's N."""
    from crossmodal_tf.text_scores import mean_length

    return mean_length([text for batch in dataset for text in sequence.texts(batch["target"].numpy(), target_vocab,
                                                                              level)])


def lead_length(run) -> int:
    """The lead baseline's N for a run: the mean summary length of its train split, whichever split is scored."""
    return summary_length(run.dataset("train"), run.target_vocab, run.config.data.target_text.level)


def _summaries(run, model, dataset, limit: int | None = None, jit_compile: bool | None = None):
    """(documents as text, references, greedy summaries) of a dataset's distinct documents (the first `limit`).

    The documents are their stored ids read back: cut at data.text.max_length, so the lead baseline copies
    what the model reads. A word outside the vocabulary reads as <unk>, or, for a copy model (model.copy),
    which can copy it, as itself.
    """
    import numpy as np

    from crossmodal_tf.data.copy_ids import extended_texts

    sources, references = seq2seq.sources_with_references(dataset, run.target_vocab, run.config.data.target_text.level)
    sources, references = sources[:limit], references[:limit]
    level = run.config.data.text.level
    if sources.copy_ids is not None:
        documents = extended_texts(sources.copy_ids, run.target_vocab, sources.oovs, level)
    else:
        documents = [sequence.texts(np.asarray(source)[None], run.vocab, level)[0] for source in sources.ids]
    summaries = seq2seq.greedy_translations(run, model, sources, jit_compile) if len(sources) else []
    return documents, references, summaries


def known_words(texts: list[str]) -> list[str]:
    """Summaries without <unk>: a word the model could not name matches no reference word, though rouge-score
    would read both as "unk"."""
    return [" ".join(word for word in text.split() if word != UNK) for text in texts]


def evaluate(run, model, dataset) -> dict:
    """Token metrics with teacher forcing, ROUGE-1/2/L of greedy summaries, and of the lead baseline (lead_*)."""
    from crossmodal_tf.text_scores import lead_baseline, summary_scores

    results = sequence.evaluate_tokens(run, model, dataset, seq2seq.arrange, text_field="target")
    documents, references, summaries = _summaries(run, model, dataset)
    results.update(summary_scores(known_words(summaries), references))
    length = lead_length(run)
    lead = summary_scores(known_words(lead_baseline(documents, length)), references)
    results.update({f"lead_{name}": value for name, value in lead.items()})
    results.update(documents=len(summaries), lead_length=length)
    return results


def report_sections(run, model, split: str, dataset) -> list:
    """Document, reference and greedy summary of test documents, with each summary's ROUGE-L."""
    from crossmodal_tf.report_page import Section, note, table
    from crossmodal_tf.text_scores import summary_scores

    documents, references, summaries = _summaries(run, model, dataset, DOCUMENTS, jit_compile=False)
    if not documents:
        return [Section("Summaries", note(f"No documents in the {split} split."))]
    rows = [[document, " / ".join(refs), summary, round(summary_scores(known_words([summary]), [refs])["rougeL"], 3)]
            for document, refs, summary in zip(documents, references, summaries)]
    return [Section(f"Summaries ({split} split, greedy)",
                    note("ROUGE-L per document: rouge-score's F-measure (stemmed) against its best reference, 0–1.")
                    + table(["document", "references", "summary", "ROUGE-L"], rows))]


def export_endpoint(run, model):
    """Document strings → {"text", "tokens", "log_prob"}: greedy summaries (seq2seq's endpoint)."""
    return seq2seq.export_endpoint(run, model)


def sample(run, request, settings, seed: int, warn) -> list[dict]:
    """Summaries of the request's documents (--text, or the lines of --input), num_samples each."""
    return seq2seq.sample(run, request, settings, seed, warn)


TASK = Task(
    name="summarize", uses_image=False, frame_text=False, target_text=True, metric_names=("token_accuracy",),
    headline_metric="rougeL", reads=("data.target_text", "model.attention", "model.copy", "sample"),
    generates_text=True, sample_inputs=("text",), needs=("documents",), target_level="word", writes_unknown=False,
    make_examples=make_examples, build_model=seq2seq.build_model, loss=sequence.loss,
    train_metrics=sequence.train_metrics, arrange=seq2seq.arrange, evaluate=evaluate,
    report_sections=report_sections, export_endpoint=export_endpoint, sample=sample, vocab_texts=vocab_texts)
