"""Corpus scores of generated text against references, from maintained libraries.

BLEU comes from sacrebleu; CIDEr-D from pycocoevalcap (the COCO caption evaluation
code) when it is installed: `pip install 'crossmodal_tf[cider]'`. Its wheel is
about 100 MB of Java tools we do not use, so it is optional.
"""

from __future__ import annotations


def _tokenizer(level: str) -> str:
    # our texts are already normalised and split into words; characters need sacrebleu's char splitting
    return "char" if level == "char" else "none"


def corpus_bleu(hypotheses: list[str], references: list[list[str]], level: str = "word") -> dict:
    """Corpus BLEU-1…4 (0–1) of hypotheses against each one's references (any number per hypothesis)."""
    from sacrebleu.metrics import BLEU

    streams = max((len(r) for r in references), default=0)
    # sacrebleu wants reference streams; a hypothesis with fewer references gets None in the rest
    refs = [[r[i] if i < len(r) else None for r in references] for i in range(streams)]
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
