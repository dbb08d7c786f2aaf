"""Corpus scores of generated text against references, from maintained libraries.

BLEU and chrF come from sacrebleu; ROUGE from rouge-score (Google's reimplementation of
the ROUGE-1.5.5 Perl script). CIDEr-D is written here (see cider_d for why). Also the lead
baseline of summarization, which copies a document's first words.

Outputs are scored against the references as people wrote them, never against ids read
back. A generated <unk> is scored as NO_MATCH: a word in its place that no reference
holds, so it counts in the output's length and breaks the n-grams around it like any
wrong word, and matches nothing (dropping it instead would shorten the output and join
its neighbours into n-grams the model never wrote).
"""

from __future__ import annotations

import math
from collections import Counter

from crossmodal_tf.data.text import normalize

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
# A private-use character: normalize() drops every such character (Unicode category C), so no normalised
# reference holds it, and references given to the sacrebleu scores have it removed.
NO_MATCH = "\ue000"


def reference_text(raw: str) -> str:
    """A reference as captions are scored: data.text.normalize (NFKC, punctuation and control characters
    dropped, whitespace collapsed), lower-cased; an empty string when nothing is left."""
    return normalize(raw, lowercase=True)


def output_text(text: str) -> str:
    """A generated text normalised exactly as reference_text, its NO_MATCH words kept (each a word of its own)."""
    parts = (normalize(part, lowercase=True) for part in text.split(NO_MATCH))
    return " ".join(f" {NO_MATCH} ".join(parts).split())


def _tokenizer(level: str) -> str:
    # our texts are already normalised (reference_text, output_text) and split into words (subwords are scored
    # as the words they join into); characters need sacrebleu's char splitting
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


def _ngram_counts(words: list[str], max_order: int) -> list[Counter]:
    # one Counter per order: counts[n - 1][ngram] is how often the n-gram occurs
    return [Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1)) for n in range(1, max_order + 1)]


def _tf_idf(counts: list[Counter], idf) -> tuple[list[dict], list[float]]:
    # term frequency × inverse document frequency per n-gram, and each order's vector norm
    vectors = [{gram: tf * idf(gram) for gram, tf in order.items()} for order in counts]
    return vectors, [math.sqrt(sum(v * v for v in vector.values())) for vector in vectors]


def cider_d(hypotheses: list[str], references: list[list[str]], level: str = "word", sigma: float = 6.0,
            max_order: int = 4) -> float:
    """CIDEr-D (0–10 scale) of hypotheses against each one's references; the corpus score is the mean per hypothesis.

    CIDEr-D as in Vedantam et al. (2015) and the COCO caption evaluation code (pycocoevalcap's
    cider_scorer, which that code names "CIDEr"): each text is a tf-idf vector of its 1…4-grams,
    an n-gram's document frequency being the number of evaluated items whose references contain
    it (so the idf comes from the references of the set scored, never from the hypotheses); per
    order, the hypothesis's vector is clipped to each reference's (min of the two weights), the
    cosine is multiplied by exp(-Δ²/2σ²) with Δ the difference of lengths in words (σ = 6), then
    averaged over references and orders and multiplied by 10. An n-gram found in every item's
    references weighs nothing, so a generic caption given to every photo scores near 0 where
    BLEU still rewards it. Texts are scored as given (reference_text and output_text normalise them).

    Written here rather than imported: pycocoevalcap's wheel is about 100 MB, nearly all Java
    jars (its PTB tokenizer, METEOR, SPICE) that we cannot use without Java, and it needs
    pycocotools; the scorer itself is these few lines. The one difference from its code: it
    measures length by the number of bigrams (words − 1), which gives the same Δ for any two
    non-empty texts.
    """
    if not hypotheses:
        return 0.0
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    split = (lambda t: list(t.replace(" ", ""))) if level == "char" else str.split  # noqa: E731
    ref_counts = [[_ngram_counts(split(r), max_order) for r in refs] for refs in references]
    document_frequency: Counter = Counter()
    for refs in ref_counts:
        document_frequency.update({gram for counts in refs for order in counts for gram in order})
    log_items = math.log(len(hypotheses))

    def idf(gram) -> float:
        # an n-gram no reference has counts as found once, as in the COCO code
        return log_items - math.log(max(1, document_frequency[gram]))

    total = 0.0
    for hypothesis, refs, counts in zip(hypotheses, references, ref_counts):
        words = split(hypothesis)
        hyp_vectors, hyp_norms = _tf_idf(_ngram_counts(words, max_order), idf)
        score = 0.0
        for ref, ref_count in zip(refs, counts):
            ref_vectors, ref_norms = _tf_idf(ref_count, idf)
            penalty = math.exp(-((len(words) - len(split(ref))) ** 2) / (2 * sigma ** 2))
            for hyp_vec, ref_vec, hyp_norm, ref_norm in zip(hyp_vectors, ref_vectors, hyp_norms, ref_norms):
                if hyp_norm and ref_norm:
                    clipped = sum(min(weight, ref_vec.get(gram, 0.0)) * ref_vec.get(gram, 0.0)
                                  for gram, weight in hyp_vec.items())
                    score += clipped / (hyp_norm * ref_norm) * penalty
        total += 10 * score / (max_order * max(1, len(refs)))
    return total / len(hypotheses)


def caption_scores(hypotheses: list[str], references: list[list[str]], level: str = "word") -> dict:
    """bleu1 … bleu4 (sacrebleu, 0–1) and cider_d (0–10) of captions against their references."""
    if not hypotheses:
        return {}
    scores = corpus_bleu(hypotheses, references, level)
    scores["cider_d"] = cider_d(hypotheses, references, level)
    return scores


def translation_scores(hypotheses: list[str], references: list[list[str]], tokenize: str = "zh") -> dict:
    """sacrebleu's corpus BLEU and chrF (its 0–100 scale) of translations; tokenize "zh" splits Chinese characters."""
    from sacrebleu.metrics import BLEU, CHRF

    if not hypotheses:
        return {}
    refs = _reference_streams([[r.replace(NO_MATCH, "") for r in rs] for rs in references])
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
