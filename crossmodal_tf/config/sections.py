"""The config sections: one pydantic model per section, unknown keys forbidden, every key defaulted but `task`."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (BaseModel, ConfigDict, Field, ValidationInfo, WrapValidator, create_model, field_validator,
                      model_validator)

from crossmodal_tf.data.sources import SOURCES, source_gives
from crossmodal_tf.models.text_types import DEFAULT_TEXT_TYPE, TEXT_TYPES, load_text_type
from crossmodal_tf.tasks import TASKS, load_task, task_reads_key

TASK_NAMES = tuple(TASKS)
SOURCE_NAMES = tuple(SOURCES)
TEXT_TYPE_NAMES = tuple(TEXT_TYPES)


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are checked strictly."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --- data -----------------------------------------------------------------------------
def _count_or_auto(value, handler):
    """A whole number of at least 1, or 'auto': one plain message rather than one per union member."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return handler(value)
    raise ValueError(f"expected a whole number of at least 1 or 'auto', found {value!r}")


CountOrAuto = Annotated[Annotated[int, Field(ge=1)] | Literal["auto"], WrapValidator(_count_or_auto)]


class ShapesConfig(Section):
    num_images: int = Field(6000, ge=1, description="images to generate")
    image_size: int = Field(64, ge=16, le=512, description="side of the generated images in pixels")
    two_object_fraction: float = Field(0.6, ge=0, le=1, description="share of images with two objects")
    captions_per_image: int = Field(5, ge=1, le=5, description="English paraphrases per image")
    held_out: list[str] = Field(
        ["red triangle"], description="combinations no train or val image shows: two or three attributes of one "
                                      "object ('red triangle') or a relation ('circle left of square'); images "
                                      "that show one go to the test split, whose figures are then reported on "
                                      "seen and novel images apart; []: none")

    @field_validator("held_out")
    @classmethod
    def _known_combinations(cls, value: list[str]) -> list[str]:
        from crossmodal_tf.data.sources.shapes_held_out import parse_held_out

        for text in value:
            parse_held_out(text)  # a ValueError saying what is wrong with it
        return value


class AugmentConfig(Section):
    crop: float = Field(0.0, ge=0, lt=1, description="random crop and resize: zoom in by up to this share of each "
                                                     "side and shift by up to half of it; 0: off")
    flip: bool = Field(False, description="random horizontal flip; refused when the captions say left or right")
    force_flip: bool = Field(False, description="flip even when the captions say left or right")
    jitter: float = Field(0.0, ge=0, le=1, description="colour jitter: random brightness and contrast by up to this "
                                                       "factor; 0: off")

    @property
    def on(self) -> bool:
        """Whether any augmentation changes the training images."""
        return bool(self.crop or self.flip or self.jitter)


class ImageConfig(Section):
    size: int = Field(64, ge=8, le=1024, description="images are resized to size x size")
    max_pixels: int = Field(40_000_000, ge=1, description="larger source images are rejected before decoding")
    resize: Literal["squash", "crop", "pad"] = Field(
        "squash", description="another aspect ratio becomes a square by squashing the whole picture, cropping its "
                              "centre square, or padding it whole with black")
    augment: AugmentConfig = Field(AugmentConfig(), description="training split only, each epoch anew (Keras "
                                                                "preprocessing layers); turns the feature cache off")


SUBWORD_DEFAULTS = {"vocab_size": 8000, "model_type": "unigram"}  # keys read with level subword only
WORD_KEYS = ("min_freq", "max_size")  # read with level word or char only: subword's vocab_size sets the size


class TextConfig(Section):
    level: Literal["word", "char", "subword"] = Field(
        "word", description="tokenize into words, characters, or the pieces of a SentencePiece model trained on "
                            "the train split (subword)")
    lowercase: bool = True
    max_length: int = Field(24, ge=1, description="tokens kept per text")
    min_freq: int = Field(1, ge=1, description="rarer train-split tokens map to <unk>")
    max_size: int = Field(10000, ge=5, description="vocabulary size including reserved tokens")
    # None unless level is subword, so configs of the other levels keep their dump and preprocess fingerprint
    vocab_size: int | None = Field(None, ge=8, description="subword: pieces in the SentencePiece model, including "
                                                           "the 4 reserved tokens and 256 byte pieces; default 8000")
    model_type: Literal["unigram", "bpe"] | None = Field(None, description="subword: SentencePiece's algorithm; "
                                                                           "default unigram")

    @model_validator(mode="before")
    @classmethod
    def _subword_defaults(cls, values):
        if isinstance(values, dict) and values.get("level") == "subword":
            values = {**values, **{k: v for k, v in SUBWORD_DEFAULTS.items() if values.get(k) is None}}
        return values

    @field_validator(*WORD_KEYS, *SUBWORD_DEFAULTS)
    @classmethod
    def _read_by_the_level(cls, value, info: ValidationInfo):
        # a value the level does not read would be ignored without a word; a word key at its default (a dumped
        # config writes them all) is not refused
        level = info.data.get("level")
        if info.field_name in SUBWORD_DEFAULTS and level != "subword" and value is not None:
            raise ValueError(f"read with level subword only, found level {level}")
        if (info.field_name in WORD_KEYS and level == "subword"
                and value != cls.model_fields[info.field_name].default):
            raise ValueError(f"not read with level subword (vocab_size sets its size), found {value!r}")
        return value


class SplitConfig(Section):
    val: float = Field(0.1, ge=0, lt=1)
    test: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def _leave_training_data(self):
        if self.val + self.test >= 1:
            raise ValueError(f"val + test must be below 1, found {self.val + self.test:g}")
        return self


class HardWeightsConfig(Section):
    colour: float = Field(1.0, ge=0, description="how often a hard negative changes an object's colour")
    shape: float = Field(1.0, ge=0, description="... an object's shape")
    size: float = Field(1.0, ge=0, description="... an object's size")
    relation: float = Field(1.0, ge=0, description="... the relation of two objects")

    @model_validator(mode="after")
    def _some_weight(self):
        if not (self.colour or self.shape or self.size):  # relation alone cannot change a one-object scene
            raise ValueError("one of colour, shape and size must have a weight above 0")
        return self


class NegativesConfig(Section):
    positives_per_image: int = Field(2, ge=1, description="captions of each image used as positives")
    ratio: float = Field(1.0, ge=0, description="negatives per positive")
    hard_fraction: float = Field(0.5, ge=0, le=1, description="share of negatives that change one attribute")
    train_ratio: float | None = Field(
        None, ge=0, description="negatives per positive stored for the train split alone (val and test keep "
                                "ratio), so that each epoch can pick its own from them (train.negatives); "
                                "null: ratio")
    train_hard_weights: HardWeightsConfig | None = Field(
        None, description="shapes: how often each attribute is the one a train-split hard negative changes "
                          "(val and test change each equally often); null: equally often")


class CocoConfig(Section):
    images: str | None = Field(None, description="coco: the image folder, relative to data.path; default: COCO's "
                                                 "<split><year>/, Karpathy's filepath, images/ or data.path itself")


class AnswersConfig(Section):
    min_count: int = Field(1, ge=1, description="vqa: train-split answers seen fewer times map to the unknown "
                                                "answer (id 0), which always counts as wrong")


class DataConfig(Section):
    source: Literal[SOURCE_NAMES] = Field("shapes", description="where records come from")  # type: ignore[valid-type]
    path: str = Field("data/raw/shapes", description="raw data folder")
    processed: str | None = Field(None, description="preprocessed output; default data/processed/<name>")
    on_error: Literal["skip", "fail"] = Field("skip", description="a bad record is skipped and counted, or fatal")
    num_shards: CountOrAuto = Field(
        "auto", description="TFRecord files per split, the same number for every split; auto: about 100 MB "
                            "each in the largest split, at least 4")
    workers: CountOrAuto = Field(
        "auto", description="preprocess processes encoding images; 1 encodes in-process; auto: one per CPU "
                            "core (at most 8), in-process for small datasets; does not change the output")
    cache: Literal["auto", "memory", "none"] = Field(
        "auto", description="training keeps a split's parsed examples in memory, or streams them from the "
                            "shards every epoch; auto: memory when the split's shards are under 2 GB")
    shapes: ShapesConfig = ShapesConfig()
    image: ImageConfig = ImageConfig()
    text: TextConfig = TextConfig()
    target_text: TextConfig = Field(TextConfig(level="char", max_length=32),
                                    description="seq2seq, summarize: how the target side (Chinese, summaries) is "
                                                "tokenized; default: characters for seq2seq, words for summarize")
    split: SplitConfig = SplitConfig()
    negatives: NegativesConfig = NegativesConfig()
    answers: AnswersConfig = AnswersConfig()
    coco: CocoConfig = CocoConfig()


# --- model ----------------------------------------------------------------------------
def _text_branch_config() -> type[Section]:
    """model.text: `type` and the fields of every registered text type's settings, one flat section.

    Each text type reads its own fields and refuses the others' (reads.py); a field two
    types both declare must have one meaning, so it is declared once (TextSection) or identically.
    """
    fields = {"type": (Literal[TEXT_TYPE_NAMES], Field(  # type: ignore[valid-type]
        DEFAULT_TEXT_TYPE, description="every text encoder and decoder of the task: "
                                       + ", ".join(TEXT_TYPE_NAMES) + " (models/text_types); each type reads "
                                       "only its own keys below"))}
    for name in TEXT_TYPE_NAMES:
        for key, info in load_text_type(name).settings.model_fields.items():
            if key in fields and repr(fields[key][1]) != repr(info):
                raise TypeError(f"text type {name}: model.text.{key} differs from another type's")
            fields.setdefault(key, (info.annotation, info))
    return create_model("TextBranchConfig", __base__=Section, **fields)


TextBranchConfig = _text_branch_config()


def _backbone_name(value, handler):
    """A known backbone name; otherwise one message naming the closest ones."""
    from crossmodal_tf.models.backbones import check_backbone_name

    return handler(check_backbone_name(value) if isinstance(value, str) else value)


def _trainable(value, handler):
    """false, true or a whole number of layers (at least 1): one plain message rather than one per union member."""
    if isinstance(value, bool) or (isinstance(value, int) and value >= 1):
        return handler(value)
    raise ValueError(f"expected false, true or a number of layers (at least 1), found {value!r}")


class ImageBranchConfig(Section):
    backbone: Annotated[str, WrapValidator(_backbone_name)] = Field(
        "conv", description="conv: the Conv2D blocks below, learned from scratch; or a pretrained keras.applications "
                            "network: mobilenet_v2, mobilenet_v3_small, efficientnet_b0, resnet50")
    weights: str | None = Field(None, description="backbone: a local .h5/.weights.h5/.keras weights file (never "
                                                  "downloaded); null: random initial weights")
    trainable: Annotated[bool | int, WrapValidator(_trainable)] = Field(
        False, description="backbone: false freezes it (its features can be cached), true trains all of it, "
                           "N trains its last N layers")
    cache_features: bool = Field(True, description="frozen backbone: compute each image's features once and train "
                                                   "on them (much faster epochs); false runs the backbone every step")

    @field_validator("weights", "trainable")
    @classmethod
    def _for_a_backbone(cls, value, info: ValidationInfo):
        if info.data.get("backbone") == "conv" and value not in (None, False):
            raise ValueError("this is for a pretrained backbone; backbone conv learns from scratch (set "
                             "model.image.backbone, e.g. mobilenet_v2)")
        return value
    filters: list[int] = Field([32, 64, 64], min_length=1, description="one Conv2D block per entry")
    kernel_size: int = Field(3, ge=1)
    pool: Literal["max", "avg"] = Field("max", description="pooling after each block and at the end")
    batch_norm: bool = True
    coord_channels: bool = Field(True, description="append x/y coordinate channels to the input (CoordConv)")
    positions: bool = Field(False, description="add each channel's expected x/y position to the pooled features")
    dropout: float = Field(0.1, ge=0, lt=1)


class FusionConfig(Section):
    type: Literal["concat", "concat_product", "film", "attention"] = Field(
        "concat", description="concat: [text, image]; concat_product: adds text*image; "
                              "film: the text modulates the conv blocks, then concat; "
                              "attention: the text attends over the last conv feature map's positions, then concat")
    project: int = Field(256, ge=1, description="concat_product: units of both projections; "
                                                "attention: units of the attention and of each attended vector")
    hops: int = Field(2, ge=1, le=4, description="attention: hops of stacked attention, each one attended vector")
    film: bool = Field(False, description="attention: the text also modulates the conv blocks (FiLM)")
    read_words: bool = Field(False, description="attention: each hop attends over the text's words to choose what "
                                                "it looks for, instead of reading one text vector")
    hidden: list[int] = Field([256, 128], description="Dense layers after fusion")
    dropout: float = Field(0.1, ge=0, lt=1)


class EmbeddingConfig(Section):
    dim: int = Field(128, ge=1, description="retrieval: size of the shared, L2-normalised embedding")
    temperature: float = Field(0.07, ge=0.01, le=1, description="retrieval: initial softmax temperature of the "
                                                                "InfoNCE loss (learned; kept at 0.01 or above)")


# model.copy is the key users write; as a field it hides pydantic's deprecated BaseModel.copy() (model_copy()
# replaces it), which no code here calls, so pydantic's warning about the shadowing is silenced for this class
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "copy"', category=UserWarning)

    class ModelConfig(Section):
        text: TextBranchConfig = TextBranchConfig()
        image: ImageBranchConfig = ImageBranchConfig()
        fusion: FusionConfig = FusionConfig()
        embedding: EmbeddingConfig = EmbeddingConfig()
        use_image: bool = Field(True, description="vqa: false builds no image branch (a question-only baseline)")
        condition: Literal["init_state", "every_step", "both"] = Field(
            "init_state", description="caption: image features set the decoder's initial state, are fed with every "
                                      "input step, or both")
        attention: Literal["none", "luong", "bahdanau"] = Field(
            "luong", description="seq2seq: how the decoder attends to the encoder's steps: none, luong "
                                 "(dot product, keras Attention) or bahdanau (additive, keras AdditiveAttention)")
        copy: bool = Field(False, description="seq2seq, summarize: copy attention (pointer-generator): the decoder "
                                              "also copies source words, those outside the target vocabulary too, "
                                              "mixed with generation by a learned gate")


# --- train / eval / sample / output ---------------------------------------------------
class OptimizerConfig(Section):
    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    learning_rate: float = Field(0.001, gt=0)
    schedule: Literal["constant", "cosine"] = Field(
        "constant", description="cosine: decay the learning rate to 0 over all training steps")
    clipnorm: float | None = Field(None, gt=0, description="clip each gradient to this norm")
    warmup_epochs: float = Field(0.0, ge=0, description="cosine: rise linearly from 0 to learning_rate over this "
                                                        "many epochs first, then decay")


class EarlyStoppingConfig(Section):
    monitor: str = "val_loss"
    patience: int = Field(3, ge=0, description="epochs without improvement; 0 turns it off")


class CheckpointConfig(Section):
    monitor: str = Field("val_loss", description="the best model is the one with the best value of this")


class EpochNegativesConfig(Section):
    hard_fraction: list[Annotated[float, Field(ge=0, le=1)]] | None = Field(
        None, min_length=1, description="each epoch picks its negatives from the train split's stored ones: this "
                                        "share of them hard, in epochs 1, 2, 3, ... (the last value holds for the "
                                        "rest): [0, 0, 0.5] is a curriculum of random negatives first; null: every "
                                        "epoch trains on every stored example")
    per_positive: float = Field(1.0, ge=0, description="negatives per positive in each epoch (with hard_fraction)")


class LossConfig(Section):
    focal_gamma: float = Field(0.0, ge=0, description="match: 0 is binary cross-entropy; above 0, focal loss with "
                                                      "this gamma (pairs already scored right count less)")


class TrainConfig(Section):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1, description="the global batch")
    shuffle_buffer: int = Field(10000, ge=1)
    length_window: int = Field(1, ge=1, description="batches whose texts are sorted by length together, so batches "
                                                     "pad little (faster LSTMs); 1 (default) keeps plain shuffled "
                                                     "batches: sorted ones hurt the match demo's accuracy")
    optimizer: OptimizerConfig = OptimizerConfig()
    negatives: EpochNegativesConfig = EpochNegativesConfig()
    loss: LossConfig = LossConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "float32", description="mixed_* compute in 16 bits with float32 weights and outputs; mixed_float16 adds "
                               "loss scaling")
    strategy: Literal["auto", "one_device", "mirrored", "multi_worker"] = Field(
        "auto", description="tf.distribute: auto (mirrored on several GPUs), one_device, mirrored, or multi_worker "
                            "(MultiWorkerMirroredStrategy over the TF_CONFIG cluster; docs/SCALING.md)")
    jit_compile: Literal["auto", True, False] = Field("auto", description="XLA; auto uses it on GPUs only")
    checkpoint_every_steps: int | None = Field(
        None, ge=1, description="also checkpoint every this many batches within an epoch (long epochs); "
                                "every epoch end is checkpointed anyway")
    time_budget_minutes: float | None = Field(
        None, gt=0, description="stop training once this much wall-clock time is spent (checked after every "
                                "batch; the cut epoch is validated and the run ends as an early stop); counted over "
                                "--resume; null: no budget")
    profile_batches: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, min_length=2, max_length=2, description="[first, last]: a tf.profiler trace of these training batches "
                                                      "(counted from 1 over the epochs of one cmx train) into "
                                                      "tensorboard/plugins/profile; null: none")

    @field_validator("profile_batches")
    @classmethod
    def _first_before_last(cls, value):
        if value and value[0] > value[1]:
            raise ValueError(f"expected [first, last] with first <= last, found {value}")
        return value

    @model_validator(mode="after")
    def _budget_on_one_machine(self):
        # each worker would read its own clock and stop after a different batch, and the others would then
        # wait forever in the next step's collective
        if self.time_budget_minutes and self.strategy == "multi_worker":
            raise ValueError("time_budget_minutes: not with strategy multi_worker (the workers would stop at "
                             "different batches); stop it with train.epochs instead")
        return self


class EvalConfig(Section):
    batch_size: int = Field(256, ge=1)
    threshold: float = Field(0.5, gt=0, lt=1, description="match score above which a pair counts as a match")


class SampleConfig(Section):
    strategy: Literal["greedy", "sample", "top_k", "top_p", "beam"] = "top_p"
    temperature: float = Field(1.0, ge=0)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(0.9, gt=0, le=1)
    beam_width: int = Field(4, ge=1)
    length_penalty: float = Field(0.6, ge=0)
    max_length: int = Field(24, ge=1)
    min_length: int = Field(0, ge=0, description="tokens generated before the end token may come; 0: no minimum")
    no_repeat_ngram_size: int = Field(0, ge=0, description="n > 0: no n-gram of n tokens twice in one output; 0: off")
    num_samples: int = Field(5, ge=1)


class OutputConfig(Section):
    dir: str = Field("runs", description="run directories go to <dir>/<name>")


class Config(Section):
    """One experiment. Paths are relative to the working directory."""

    # the first character is no dot: "." or ".." would put the run directory outside output.dir
    name: str = Field("experiment", min_length=1, pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$")
    task: Literal[TASK_NAMES]  # type: ignore[valid-type]
    seed: int = 42
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    sample: SampleConfig = SampleConfig()
    output: OutputConfig = OutputConfig()

    @property
    def processed_dir(self) -> Path:
        return Path(self.data.processed or f"data/processed/{self.name}")

    @property
    def run_dir(self) -> Path:
        return Path(self.output.dir) / self.name

    @model_validator(mode="before")
    @classmethod
    def _task_target_level(cls, values):
        # data.target_text's default is the task's: characters for seq2seq's Chinese, words for summaries
        if isinstance(values, dict) and values.get("task") in TASKS:
            data, level = values.get("data"), load_task(values["task"]).target_level
            if level != "char" and (data is None or (isinstance(data, dict) and "target_text" not in data)):
                values = {**values, "data": {**(data or {}), "target_text": {"level": level, "max_length": 32}}}
        return values

    @model_validator(mode="after")
    def _text_type_fits(self):
        load_text_type(self.model.text.type).check(self, load_task(self.task))
        return self

    @model_validator(mode="after")
    def _copy_reads_attention(self):
        if not (self.model.copy and task_reads_key(self.task, "model.copy")):
            return self
        if self.model.attention == "none":
            raise ValueError("model.copy: copy attention copies where the decoder attends; set model.attention "
                             "to luong or bahdanau")
        if "subword" in (self.data.text.level, self.data.target_text.level):
            raise ValueError("model.copy: copies words or characters; data.text.level and data.target_text.level "
                             "subword cannot copy")
        return self

    @model_validator(mode="after")
    def _source_fits_task(self):
        source, task = self.data.source, load_task(self.task)
        for needed in task.source_needs():
            if needed not in source_gives(source):
                givers = " or ".join(name for name in SOURCES if needed in source_gives(name))
                raise ValueError(f"data.source: task {self.task} needs {needed} ({givers}); {source} has none")
        return self

    def to_dict(self) -> dict:
        """The config as plain data; the subword keys of a text side that is not subword (None) are left out."""
        data = self.model_dump(mode="json")
        for side in ("text", "target_text"):
            for key in SUBWORD_DEFAULTS:
                if data["data"][side][key] is None:
                    del data["data"][side][key]
        return data
