"""Task `lm`: a text-only language model, p(text) = ∏ p(w_i | w_<i), over the captions: the text type's decoder
(model.text.type) conditioned on nothing, e.g. an LSTM or a GPT-style Transformer decoder."""

from __future__ import annotations

from crossmodal_tf.tasks import sequence
from crossmodal_tf.tasks.base import Task

SAMPLES = 5  # the report's samples per temperature
TEMPERATURES = (0.5, 1.0)


def build_model(config, vocab_size: int, target_vocab_size: int | None = None):
    """The text type's decoder, conditioned on nothing → next-token logits, over the whole text at once."""
    import keras

    from crossmodal_tf.models.text_types import load_text_type

    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    logits = load_text_type(config.model.text.type).build_decoder(config.model, tokens, vocab_size)
    return keras.Model({"text": tokens}, logits, name="lm_model")


def arrange(batch):
    """A parsed batch → (decoder inputs, next-token targets)."""
    inputs, targets = sequence.teacher_forcing(batch["text"])
    return {"text": inputs}, targets


def evaluate(run, model, dataset) -> dict:
    """Loss, perplexity and token accuracy, beside the perplexity of a unigram model of the train split."""
    return sequence.evaluate_tokens(run, model, dataset, arrange)


def generator(model, config):
    """The trained model in single-step form, starting from a zero state (an empty cache)."""
    from crossmodal_tf.models.cached_step import Generator

    return Generator(model)


def sample(run, request, settings, seed: int, warn) -> list[dict]:
    """Continuations of the request's prompts (or texts from nothing)."""
    return sequence.continue_prompts(run, generator(run.model(), run.config), request.prompts, settings, seed, warn)


def report_sections(run, model, split: str, dataset) -> list:
    """Texts the language model generates from nothing: greedy, then samples at two temperatures."""
    from crossmodal_tf.decoding import DecodeSettings, make_decoder
    from crossmodal_tf.report_page import Section, table

    level, max_length, seed = run.config.data.text.level, run.config.sample.max_length, run.config.seed
    gen = generator(model, run.config)
    decoder = make_decoder(gen, run.vocab, jit_compile=False)  # compiling takes longer than a few rows
    rows = []
    settings = [("greedy", sequence.greedy(max_length), 1)] + [
        (f"sample, T={t}", DecodeSettings("sample", temperature=t, max_length=max_length), SAMPLES)
        for t in TEMPERATURES]
    for name, decode, count in settings:
        result = sequence.generate(gen, decoder, run.vocab, None, 1, decode, count, seed)
        for text, log_prob in zip(sequence.texts(result.tokens[0], run.vocab, level), result.log_probs[0]):
            rows.append([name, text, round(float(log_prob), 2)])
    return [Section("Generated texts", table(["decoding", "text", "log p"], rows))]


def export_endpoint(run, model):
    """Prompt strings ("" for none) → {"text", "tokens", "log_prob"}: greedy continuations, prompt included."""
    import tensorflow as tf

    from crossmodal_tf.data.text import START
    from crossmodal_tf.serving.endpoint import PROMPT, Endpoint, greedy_outputs, prefill
    from crossmodal_tf.serving.text_ops import GraphVocabulary

    text_cfg, vocab, gen = run.config.data.text, run.vocab, generator(model, run.config)
    graph_vocab = GraphVocabulary(vocab, text_cfg)

    def serve(prompt):
        prompt_ids = graph_vocab.ids(prompt)
        batch = tf.shape(prompt)[0]
        framed = tf.concat([tf.fill([batch, 1], vocab.index[START]), prompt_ids], axis=1)
        lengths = tf.cast(framed.row_lengths(), tf.int32)
        ids = framed.to_tensor(0)
        state = prefill(gen.step, gen.start(None, batch), ids, lengths)
        first = tf.gather(ids, lengths - 1, batch_dims=1)
        settings = sequence.greedy(run.config.sample.max_length, run.config.sample)
        return greedy_outputs(gen, graph_vocab, settings, state, first, prompt_ids)

    return Endpoint(serve, [PROMPT], graph_vocab.resources)


TASK = Task(
    name="lm", uses_image=False, frame_text=True, metric_names=("token_accuracy",), headline_metric="perplexity",
    reads=("sample",), generates_text=True, sample_inputs=("prompt",),
    make_examples=sequence.make_examples, build_model=build_model, loss=sequence.loss,
    train_metrics=sequence.train_metrics, arrange=arrange, evaluate=evaluate, report_sections=report_sections,
    export_endpoint=export_endpoint, sample=sample)
