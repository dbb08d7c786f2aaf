"""Custom layers, registered so saved models load in Keras safe mode."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class CoordinateChannels(keras.layers.Layer):
    """Appends x and y coordinate channels in [-1, 1] to an image tensor (CoordConv).

    Global pooling discards where a feature was found; with coordinates as input the
    convolutions can encode position in their features, so relations such as
    'left of' survive the pooling.
    """

    def call(self, images):
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        ys = ops.linspace(-1.0, 1.0, height)
        xs = ops.linspace(-1.0, 1.0, width)
        grid_y, grid_x = ops.meshgrid(ys, xs, indexing="ij")
        grid = ops.cast(ops.stack([grid_x, grid_y], axis=-1), images.dtype)
        grid = ops.broadcast_to(grid[None], (batch, height, width, 2))
        return ops.concatenate([images, grid], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 2)


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class FeatureModulation(keras.layers.Layer):
    """FiLM: scales and shifts each channel of a feature map by text-derived factors.

    Inputs [features (batch, h, w, c), factors (batch, 2c)]; returns
    features * (1 + gamma) + beta, so zero factors leave the features unchanged.
    """

    def call(self, inputs):
        features, factors = inputs
        channels = features.shape[-1]
        gamma = factors[:, None, None, :channels]
        beta = factors[:, None, None, channels:]
        return features * (1.0 + gamma) + beta

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose training step on TensorFlow is one fused kernel per direction.

    Keras 3 normalises a batch with about ten element-wise TensorFlow ops forward and
    twenty backward, each a pass over the whole feature map; on CPU they took as long
    as the convolutions themselves (benchmarks/RESULTS.md, "Where training time goes").
    FusedBatchNormV3 does the same in one pass each way. The weights, the moving
    statistics (updated as Keras updates them) and inference are Keras' own; the
    outputs agree with Keras' to float32 round-off, not bit for bit. Other backends,
    other ranks or axes, masks and renorm take Keras' path.
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or mask is not None or self.renorm or len(inputs.shape) != 4 \
                or self.axis not in (-1, 3) or keras.backend.backend() != "tensorflow":
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, "float32")  # as Keras does: statistics in 16 bits overflow
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels])
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=self.epsilon,
                                                                   data_format="NHWC", is_training=True)
        # the kernel returns the unbiased (Bessel-corrected) batch variance; Keras averages the biased one
        count = tf.cast(tf.size(x) // channels, "float32")
        variance = variance * (count - 1.0) / count
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class SpatialSoftArgmax(keras.layers.Layer):
    """Each channel's expected (x, y) position under a softmax over its feature map.

    Global pooling says whether something was seen; this says where, as two numbers
    per channel in [-1, 1], which makes relations such as 'left of' a comparison of
    two features instead of something the pooled vector has to encode indirectly.
    Output: (batch, 2 * channels), all x positions first, then all y positions.
    """

    def build(self, input_shape):
        self.sharpness = self.add_weight(shape=(), initializer="ones", name="sharpness")

    def call(self, features):
        shape = ops.shape(features)
        height, width, channels = shape[1], shape[2], features.shape[-1]
        flat = ops.reshape(ops.transpose(features, (0, 3, 1, 2)), (-1, channels, height * width))
        weights = ops.softmax(ops.cast(flat, "float32") * self.sharpness, axis=-1)
        grid_y, grid_x = ops.meshgrid(ops.linspace(-1.0, 1.0, height), ops.linspace(-1.0, 1.0, width), indexing="ij")
        x = ops.sum(weights * ops.reshape(grid_x, (1, 1, -1)), axis=-1)
        y = ops.sum(weights * ops.reshape(grid_y, (1, 1, -1)), axis=-1)
        return ops.cast(ops.concatenate([x, y], axis=-1), features.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class ConcatToSteps(keras.layers.Layer):
    """Concatenates one vector per example to every step of a sequence: [(b, t, d), (b, e)] → (b, t, d + e).

    The sequence's padding mask passes through, so a decoder conditioned on every
    step still ignores padded steps.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        sequence, vector = inputs
        steps = ops.shape(sequence)[1]
        tiled = ops.repeat(ops.expand_dims(ops.cast(vector, sequence.dtype), 1), steps, axis=1)
        return ops.concatenate([sequence, tiled], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def compute_output_shape(self, input_shape):
        sequence, vector = input_shape
        return (*sequence[:-1], sequence[-1] + vector[-1])


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class ScaledSimilarity(keras.layers.Layer):
    """Logits of every text against every image of a batch: scale · texts @ imagesᵀ, shape (texts, images).

    Inputs are L2-normalised embeddings, so the product is a cosine similarity in
    [-1, 1]; the scale is 1 / temperature, learned as a logarithm and clipped at
    max_scale (as CLIP does), because an unbounded scale lets the loss grow the
    logits instead of improving the embeddings and training turns unstable.
    """

    def __init__(self, temperature: float = 0.07, max_scale: float = 100.0, **kwargs):
        super().__init__(**kwargs)
        self.temperature = temperature
        self.max_scale = max_scale

    def build(self, input_shape):
        initial = float(np.log(1.0 / self.temperature))
        self.log_scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(initial), name="log_scale")

    def scale(self):
        """The current multiplier of the cosine similarities (1 / temperature)."""
        return ops.exp(ops.minimum(self.log_scale, float(np.log(self.max_scale))))

    def call(self, inputs):
        texts, images = (ops.cast(x, "float32") for x in inputs)
        return self.scale() * ops.matmul(texts, ops.transpose(images))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[1][0])

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "max_scale": self.max_scale}


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class QuestionAttention(keras.layers.Layer):
    """Stacked attention (Yang et al., 2016): a question picks positions of a feature map, in `hops` hops.

    Inputs [features (batch, h, w, c), question (batch, d)], or with read_words
    [features, question, words (batch, steps, e), padding masked]. Each hop scores every
    position against the current query (a linear score of tanh(position·W + query·V)),
    softmaxes the scores over the h·w positions, and adds the weighted mean of the
    positions (projected to `units`) to the query, so the next hop can look for what
    the first one found it needs ("the square" after "the red circle").
    With read_words each hop first attends over the question's words, scored against the
    current query in the same way, and adds what it read to the query it looks with: one
    question vector names both objects of "is the red circle left of the blue square?" at
    once, and the hops then tend to look at the same object, while reading words lets the
    first hop look for "red circle" and the second for "blue square" (as MAC's control
    unit does, Hudson & Manning, 2018). On shapes this alone did not make the hops look at
    different objects (benchmarks/RESULTS.md): the weights stay spread over the map.
    Output: every hop's attended vector, concatenated: (batch, hops · units).
    """

    def __init__(self, units: int = 128, hops: int = 2, read_words: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # the words' padding mask reaches call()
        self.units, self.hops, self.read_words = units, hops, read_words
        self.values = keras.layers.Dense(units, name="values")
        self.query = keras.layers.Dense(units, name="query")
        self.keys = [keras.layers.Dense(units, name=f"keys_{hop}") for hop in range(hops)]
        self.queries = [keras.layers.Dense(units, use_bias=False, name=f"queries_{hop}") for hop in range(hops)]
        self.scores = [keras.layers.Dense(1, name=f"scores_{hop}") for hop in range(hops)]
        if read_words:
            self.word_values = keras.layers.Dense(units, name="word_values")
            self.word_keys = [keras.layers.Dense(units, name=f"word_keys_{hop}") for hop in range(hops)]
            self.word_queries = [keras.layers.Dense(units, use_bias=False, name=f"word_queries_{hop}")
                                 for hop in range(hops)]
            self.word_scores = [keras.layers.Dense(1, name=f"word_scores_{hop}") for hop in range(hops)]

    def build(self, input_shape):
        features, question = input_shape[:2]
        positions = (features[0], None, features[-1])
        self.values.build(positions)
        self.query.build(question)
        for keys, queries, scores in zip(self.keys, self.queries, self.scores):
            keys.build(positions)
            queries.build((question[0], self.units))
            scores.build((features[0], None, self.units))
        if self.read_words:
            words = input_shape[2]
            self.word_values.build((words[0], words[-1]))
            for keys, queries, scores in zip(self.word_keys, self.word_queries, self.word_scores):
                keys.build(words)
                queries.build((question[0], self.units))
                scores.build((words[0], None, self.units))

    @staticmethod
    def _weigh(keys, query, scores, mask=None):
        """Softmax weights of the keys' rows against a query: (batch, rows), 0 where mask is False."""
        # the softmax in float32: under mixed precision float16 scores sum to 1 only roughly
        logits = ops.cast(ops.squeeze(scores(ops.tanh(keys + query[:, None, :])), -1), "float32")
        if mask is not None:
            logits = ops.where(mask, logits, -1e9)
        return ops.softmax(logits, axis=-1)

    def attend(self, inputs, mask=None):
        """(the attended vectors, the attention weights) of every hop: (batch, units) and (batch, h·w) each."""
        features, question = inputs[:2]
        shape = ops.shape(features)
        positions = ops.reshape(features, (shape[0], shape[1] * shape[2], features.shape[-1]))
        values, query = self.values(positions), self.query(question)
        attended, weights = [], []
        for hop in range(self.hops):
            looking = query
            if self.read_words:
                words = inputs[2]
                word_mask = mask[2] if isinstance(mask, (list, tuple)) else None
                read = self._weigh(self.word_keys[hop](words), self.word_queries[hop](query), self.word_scores[hop],
                                   word_mask)
                looking = query + self.word_values(ops.sum(ops.cast(read, words.dtype)[..., None] * words, axis=1))
            weight = self._weigh(self.keys[hop](positions), self.queries[hop](looking), self.scores[hop])
            glimpse = ops.sum(ops.cast(weight, values.dtype)[..., None] * values, axis=1)
            query = query + glimpse
            attended.append(glimpse)
            weights.append(weight)
        return attended, weights

    def call(self, inputs, mask=None):
        attended, _ = self.attend(inputs, mask)
        return ops.concatenate(attended, axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None  # one vector per example: the words' padding mask ends here

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.hops * self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "hops": self.hops, "read_words": self.read_words}
