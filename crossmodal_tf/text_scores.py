"""Corpus scores of generated text against references, from maintained libraries.

BLEU and chrF come from sacrebleu; ROUGE from rouge-score (Google's reimplementation of
the ROUGE-1.5.5 Perl script); CIDEr-D from pycocoevalcap (the COCO caption evaluation
code) when it is installed: `pip install 'crossmodal_tf[cider]'`. Its wheel is
about 100 MB of Java tools we do not use, so it is optional. Also the lead baseline of
summarization, which copies a document's first words.
"""

from __future__ import annotations

import math

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def _tokenizer(level: str) -> str:
    # our texts are already normalised and split into words; characters need sacrebleu's char splitting
    return "char" if level == "char" else "none"


def _reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    # sacrebleu wants reference streams; a hypothesis with fewer references gets None in the rest
    streams = max((len(r) for r in references), default=0)
    return [[r[i] if i < len(r) else None for r in references] for i in range(streams)]


def corpus_bleu(hypotheses: list[str], references: list[list[str]], level: str = "word") -> dict:
    """Corpus BLEU-1…4 (0–1) of hypotheses against each one's references (any number per hypothesis)."""
    from sacrebleu.metrics import BLEU

    refs = _reference_streams(references)
    scores = {}
    for order in (1, 2, 3, 4):
        bleu = BLEU(max_ngram_order=order, tokenize=_tokenizer(level))
        scores[f"bleu{order}"] = bleu.corpus_score(hypotheses, refs).score / 100
    return scores


def cider_d(hypotheses: list[str], references: list[list[str]], level: str = "word") -> float | None:
    """CIDEr-D of the hypotheses (pycocoevalcap), or None when pycocoevalcap is not installed."""
    try:
        from pycocoevalcap.cider.cider import Cider
    except ImportError:
        return None
    split = (lambda t: " ".join(t.replace(" ", ""))) if level == "char" else (lambda t: t)  # noqa: E731
    gts = {i: [split(r) for r in refs] for i, refs in enumerate(references)}
    res = {i: [split(h)] for i, h in enumerate(hypotheses)}
    score, _ = Cider().compute_score(gts, res)
    return float(score)


def caption_scores(hypotheses: list[str], references: list[list[str]], level: str = "word") -> dict:
    """bleu1 … bleu4 and, when available, cider."""
    if not hypotheses:
        return {}
    scores = corpus_bleu(hypotheses, references, level)
    cider = cider_d(hypotheses, references, level)
    if cider is not None:
        scores["cider"] = cider
    return scores


def translation_scores(hypotheses: list[str], references: list[list[str]], tokenize: str = "zh") -> dict:
    """sacrebleu's corpus BLEU and chrF (its 0–100 scale) of translations; tokenize "zh" splits Chinese characters."""
    from sacrebleu.metrics import BLEU, CHRF

    if not hypotheses:
        return {}
    refs = _reference_streams(references)
    return {"bleu": BLEU(tokenize=tokenize).corpus_score(hypotheses, refs).score,
            "chrf": CHRF().corpus_score(hypotheses, refs).score}


def summary_scores(hypotheses: list[str], references: list[list[str]]) -> dict:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F-measures (0–1) of summaries, with the Porter stemmer.

    A hypothesis with several references scores its best F against any one of them,
    for each ROUGE type separately (rouge-score's score_multi). rouge-score's tokenizer
    keeps only a–z and 0–9, so this is for English text. Nothing is downloaded: the
    stemmer is code, and rougeLsum (which needs NLTK's sentence splitter data) is not used.
    """
    from rouge_score.rouge_scorer import RougeScorer

    if not hypotheses:
        return {}
    scorer = RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        best = scorer.score_multi(refs, hypothesis)
        for rouge_type in ROUGE_TYPES:
            totals[rouge_type] += best[rouge_type].fmeasure
    return {rouge_type: total / len(hypotheses) for rouge_type, total in totals.items()}


def mean_length(texts: list[str]) -> int:
    """The mean number of words of the texts, rounded half up: the lead baseline's length from the train split."""
    if not texts:
        raise ValueError("mean_length needs at least one text")
    return math.floor(sum(len(text.split()) for text in texts) / len(texts) + 0.5)


def lead_baseline(documents: list[str], length: int) -> list[str]:
    """Each document's first `length` words (all of a shorter one): the lead summary."""
    return [" ".join(document.split()[:length]) for document in documents]
