"""`RealNVP`: the Keras model that owns the flow's layers and builds its TFP
distribution."""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tf_realnvp import likelihood
from tf_realnvp import losses
from tf_realnvp import pixels
from tf_realnvp import seeds
from tf_realnvp.bijectors.conditioned import Conditioned
from tf_realnvp.bijectors.preprocessing import PixelLogit
from tf_realnvp.classifier import GenerativeClassifier
from tf_realnvp.dequantization import VariationalDequantizer
from tf_realnvp.flow.multiscale import MultiScaleFlow
from tf_realnvp.keras_fit import KerasFit
from tf_realnvp.model_config import ModelConfig
from tf_realnvp.model_inputs import ModelInputs

__all__ = ["DTYPE_POLICIES", "RealNVP"]

tfb = tfp.bijectors
tfd = tfp.distributions

# The Keras dtype policies of the s/t networks a `RealNVP` trains with (see
# `RealNVP(dtype=...)`); the flow itself always computes in float32.
DTYPE_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


@keras.saving.register_keras_serializable(package="tf_realnvp")
class RealNVP(GenerativeClassifier, KerasFit, keras.Model):
  r"""Real NVP (Dinh, Sohl-Dickstein & Bengio, ICLR 2017) on images.

  The model is a density on dequantised pixel space `[0, 256)^D`,
  `D = H * W * C`:

  $$\log p(y) = \log \mathcal N(f(y); 0, I)
      + \log\left|\det \frac{\partial f(y)}{\partial y}\right|,$$

  (paper, equation 3) where `f`, the data-to-latent map, is the pixel
  preprocessing `logit(alpha + (1 - 2 alpha) y / 256)` followed by the
  multi-scale flow (`tf_realnvp.flow.MultiScaleFlow`: scales of steps, each
  step an affine coupling with its batch norm, or Glow's step). The whole
  map is one `tfb.Chain`, in TFP's direction: its `forward` is latent ->
  pixels (the paper's `f^{-1}`, sampling) and its `inverse` is `f`.
  Bits/dim of a dequantised image is `-log p(y) / (D ln 2)`, nothing added.

  ```python
  model = tf_realnvp.RealNVP(image_shape=(32, 32, 3), num_scales=2,
                             num_blocks=8, num_filters=64)
  dist = model.distribution()        # event shape [32, 32, 3]
  dist.log_prob(y)                   # y float32 [N, 32, 32, 3] in [0, 256)
  model.bits_per_dim(images_uint8)   # [N], uniformly dequantised
  model.sample(16, temperature=0.7)  # float32 [16, 32, 32, 3] in [0, 256)
  ```

  Conditional flows, `p(y | c)`: `RealNVP(..., num_classes=K)` for class
  labels, `RealNVP(..., condition_shape=(A,))` for condition vectors (e.g.
  CelebA's 40 attributes, multi-hot). The condition enters every coupling's
  s/t network (`CouplingResNet`), and every method takes it:

  ```python
  model = tf_realnvp.RealNVP((28, 28, 1), num_classes=10)
  dist = model.distribution(condition=[3, 7])  # batch shape [2]
  dist.log_prob(y)                   # y [..., 2, 28, 28, 1] -> [..., 2]
  model.sample(8, condition=7)       # 8 images of class 7
  model.classify(images_uint8)       # p(class | image) [N, 10], Bayes' rule
  # TFP's convention, the condition routed to every coupling of the chain:
  dist = model.distribution()
  dist.log_prob(y, bijector_kwargs=model.bijector_kwargs(labels))
  ```

  The model owns every Keras layer (`flow`, and the `dequantizer`), so
  `model.trainable_variables` is the complete list for an optimizer,
  `model.losses` holds the L2 penalty on the weight-norm scales, and
  `tf.train.Checkpoint(model=model)` saves the running batch-norm
  statistics too. Distributions and bijectors are built on demand around
  these layers; they hold no variables of their own.

  Args:
    image_shape: `(H, W, C)` of the images; `H` and `W` divisible by
      `2 ** (num_scales - 1)`.
    name: the model's name.
    dtype: the Keras dtype policy of the s/t networks (default: Keras's
      global policy). Under `"mixed_bfloat16"` their convolutions run in
      bfloat16 (GPUs, TPUs, CPUs with AMX) while the weights, pixels,
      coupling arithmetic, log-determinants and base density stay float32:
      the model's own `dtype_policy` is the variable dtype, and
      `network_dtype_policy` the requested one. `"mixed_float16"` trains
      with dynamic loss scaling (`tf_realnvp.optimization.TrainStep`).
    trainable: as for any Keras model.
    **settings: the other fields of `tf_realnvp.ModelConfig`, which
      documents them: `num_scales`, `num_blocks`, `num_filters`,
      `step_type` (`"real_nvp"` or `"glow"`), `alpha`, `l2_scale`,
      `batch_norm_momentum`, `average_in_training`, `coupling_batch_norm`,
      `synchronized_batch_norm`, `recompute_gradients`, `num_classes`,
      `condition_shape`, `dequantization` (`"uniform"`, or `"variational"`:
      a learned noise density `q(u | x)`,
      `tf_realnvp.dequantization.VariationalDequantizer`, trained with the
      flow; `bits_per_dim` is then the variational bound).
  """

  def __init__(self, image_shape, name="real_nvp", dtype=None, trainable=True,
               **settings):
    network_policy = keras.dtype_policies.get(dtype or
                                              keras.config.dtype_policy())
    super().__init__(name=name, dtype=network_policy.variable_dtype,
                     trainable=trainable)
    if image_shape is None:
      raise ValueError("RealNVP needs image_shape (H, W, C).")
    self.config = ModelConfig(image_shape=image_shape, **settings)
    self.network_dtype_policy = network_policy
    self._inputs = ModelInputs(self.config.image_shape,
                               self.config.conditioning, self.compute_dtype)
    self.flow = MultiScaleFlow(self.config, network_dtype=network_policy,
                               dtype=self.dtype_policy, name="flow")
    self.dequantizer = VariationalDequantizer(
        self.image_shape,
        num_filters=self.config.num_filters,
        l2_scale=self.config.l2_scale,
        batch_norm_momentum=self.config.batch_norm_momentum,
        synchronized_batch_norm=self.config.synchronized_batch_norm,
        dtype=network_policy,
        name="dequantizer") if (
            self.config.dequantization == "variational") else None
    self._init_fit()
    self.build((None,) + self.image_shape)

  def build(self, input_shape=None):
    """Creates every variable (the shapes follow from `image_shape`)."""
    self.flow.build()
    if self.dequantizer is not None:
      self.dequantizer.build()
    if self.num_classes:
      self._build_class_prior()

  # --- Settings -------------------------------------------------------------

  @property
  def image_shape(self):
    """`(H, W, C)`."""
    return self.config.image_shape

  @property
  def num_scales(self):
    return self.config.num_scales

  @property
  def layout(self):
    """The `tf_realnvp.flow.ScaleSpec`s of the flow, fine to coarse."""
    return self.flow.layout

  @property
  def conditioning(self):
    """The `tf_realnvp.conditions.Conditioning` of a conditional model."""
    return self._inputs.conditioning

  @property
  def num_classes(self):
    """`K` of a class-conditional model, else `None`."""
    return self.config.num_classes

  @property
  def condition_shape(self):
    """`(A,)` of a vector-conditional model, else `None`."""
    return self.config.condition_shape

  @property
  def num_dims(self):
    """`D = H * W * C`."""
    return int(np.prod(self.image_shape))

  # --- The flow as TFP objects ----------------------------------------------

  def _preprocessing(self):
    return PixelLogit(self.config.alpha, dtype=self.compute_dtype)

  def bijector(self, training=False, condition=None):
    """The flow as one `tfb.Chain`: `forward` latent -> pixels, `inverse` back.

    The chain's first element is the `PixelLogit` preprocessing; the rest is
    `self.flow.bijectors(...)`. Built anew on each call (cheap: it only wraps
    the model's layers), so TFP's bijector cache never outlives a step.

    Args:
      training: Python bool, batch normalisation with minibatch statistics
        (and running-average updates) in `inverse`; never the direction.
      condition: for a conditional model, the condition bound to every
        coupling (labels `[...]` or vectors `[..., A]`; see
        `tf_realnvp.conditions`), or `None` to pass it to each call with
        `**self.bijector_kwargs(condition)`.
    """
    return self._bijector(training, self._inputs.optional_vector(condition))

  def _bijector(self, training, condition_vector):
    chain = tfb.Chain(
        [self._preprocessing()] + self.flow.bijectors(
            training, recompute=training and self.config.recompute_gradients),
        name="real_nvp")
    if condition_vector is None:
      return chain
    return Conditioned(chain, self.flow.conditional_kwargs(condition_vector),
                       self.image_shape, name="real_nvp_conditioned")

  def bijector_kwargs(self, condition):
    """TFP's keyword arguments that condition the whole flow on `condition`.

    `dist.log_prob(y, bijector_kwargs=model.bijector_kwargs(c))` and
    `dist.sample(n, bijector_kwargs=model.bijector_kwargs(c))` for
    `dist = model.distribution()`, or `model.bijector().forward(z,
    **model.bijector_kwargs(c))`: a nested dict, keyed by the chain's
    bijector names, that reaches every coupling
    (`tf_realnvp.flow.MultiScaleFlow.conditional_kwargs`). The condition's
    batch shape broadcasts against the input's batch shape (for
    `sample(n)`: `[n]`).

    Args:
      condition: labels `[...]` (int in `[0, K)`) or vectors `[..., A]`.
    """
    return self.flow.conditional_kwargs(
        self._inputs.condition_vector(condition))

  def distribution(self, training=False, condition=None):
    """The model as a TFP distribution with event shape `image_shape`.

    `tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0, 1), image_shape),
    self.bijector(training, condition))`. Its `log_prob(y)` takes float
    pixels `[..., H, W, C]` in `[0, 256)`. TFP returns an instance of the base
    class `_TransformedDistribution` (not a `CompositeTensor`, since the
    bijectors hold Keras layers), so `isinstance(d,
    tfd.TransformedDistribution)` is False; it behaves like a
    `TransformedDistribution` in every other way.

    Conditional models: with `condition` (labels `[N]` or vectors `[N, A]`)
    the distribution is `p(y | c)` with batch shape `[N]` (its base is
    `N(0, I)` with that batch shape), usable wherever an unconditional
    one is (`log_prob(y)` broadcasts `y` `[..., N, H, W, C]` against the
    conditions; `sample(n)` gives `[n, N, H, W, C]`). Without it, pass the
    condition to each call the TFP way,
    `bijector_kwargs=self.bijector_kwargs(c)`.

    TFP caches bijector results by input tensor: build a new distribution
    for each training step rather than reusing one across updates.
    """
    return self._distribution(training,
                              self._inputs.optional_vector(condition))

  def _distribution(self, training, condition_vector):
    batch_shape = ([] if condition_vector is None else
                   tf.shape(condition_vector)[:-1])
    zeros = tf.zeros(batch_shape, self.compute_dtype)
    base = tfd.Sample(tfd.Normal(zeros, zeros + 1.0),
                      sample_shape=self.image_shape)
    return tfd.TransformedDistribution(
        base, self._bijector(training, condition_vector), name="RealNVP")

  # --- Densities ------------------------------------------------------------

  def log_prob(self, y, condition=None, training=False):
    """`log p(y)` (or `log p(y | c)`) `[N]` of float pixels `y`
    `[N, H, W, C]` in `[0, 256)`.

    Pixels outside `[0, 256]` that the preprocessing cannot invert give NaN
    (see `PixelLogit`); NaN pixels give NaN.

    Args:
      y: float pixels `[N, H, W, C]`.
      condition: for a conditional model, labels `[N]` / vectors `[N, A]`
        (or one label / vector `[A]` for all), required; else `None`.
      training: batch normalisation with minibatch statistics.
    """
    y = self._inputs.images(y, "log_prob")
    return self._distribution(
        training, self._inputs.required_vector(condition, y)).log_prob(y)

  def scale_log_likelihoods(self, y, condition=None):
    """Each scale's share of `log p(y)` `[N, L]` in nats, evaluation mode;
    the shares add up to `log_prob(y)`. Scale 0's includes the pixel
    preprocessing's log-determinant
    (`tf_realnvp.flow.MultiScaleFlow.scale_log_likelihoods`)."""
    y = self._inputs.images(y, "scale_log_likelihoods")
    condition = self._inputs.required_vector(condition, y)
    preprocessing = self._preprocessing()
    shares = self.flow.scale_log_likelihoods(preprocessing.inverse(y),
                                             condition)
    first = shares[:, :1] + preprocessing.inverse_log_det_jacobian(
        y, event_ndims=3)[:, None]
    return tf.concat([first, shares[:, 1:]], axis=-1)

  def bits_per_dim(self, images, condition=None, seed=None, training=False):
    """Bits per dimension `[N]` of uint8 `images` `[N, H, W, C]`.

    Uniform dequantisation: `-log p(x + u) / (D ln 2)` (conditional:
    `-log p(x + u | c)`) with noise `u ~ U[0, 1)^D`
    (`tf_realnvp.pixels.dequantize`; the same `seed` gives the same noise,
    `None` draws a fresh one). Variational dequantisation: the one-sample
    variational bound `(-log p(x + u) + log q(u | x)) / (D ln 2)`, `u ~ q`
    (drawn from the same uniform noise, `dequantized`), an upper bound on
    `-log2 P(x) / D` in expectation. `condition` as in `log_prob`.
    """
    images = self._inputs.images(images, "bits_per_dim", dtype=tf.uint8)
    y = tf.cast(pixels.dequantize(images, seeds.stateless_seed(seed)),
                self.compute_dtype)
    return losses.bits_per_dim(self, y, training, condition)

  def log_likelihood(self, images, condition=None,
                     num_draws=likelihood.DEFAULT_NUM_DRAWS):
    """`log P(x)` `[N]` (nats) of uint8 `images` `[N, H, W, C]`, estimated.

    The discrete likelihood of 8-bit images, `log int p(x + u) du` over the
    pixel bins, by importance weighting over `num_draws` fixed
    dequantisation draws (`tf_realnvp.likelihood`): deterministic, at least
    the training bound in expectation (`bits_per_dim` is the bound),
    converging to `log P(x)` as `num_draws` grows. What the export serves.
    `losses.to_bits_per_dim(ll, model.num_dims)`: bits/dim. `condition` as
    in `log_prob`. Repeated calls: `tf.function(model.log_likelihood)`.
    """
    images = self._inputs.images(images, "log_likelihood", dtype=tf.uint8)
    condition = self._inputs.required_vector(condition, images)
    return likelihood.importance_weighted(
        self, images, num_draws,
        lambda y: self._distribution(False, condition).log_prob(y))

  def dequantized(self, y, training=False):
    """`(y_q, log q)`: the pixels whose density the bits/dim measures, and
    the log-density of their noise, for uniformly dequantised pixels `y`.

    Uniform dequantisation: `(y, 0)`. Variational: `y = x + e` becomes
    `(x + u, log q(u | x))` with `u` drawn from `q(. | x)` by transforming
    the uniform noise `e` (`VariationalDequantizer`).

    Args:
      y: float pixels `[N, H, W, C]` in `[0, 256)`.
      training: batch normalisation of the dequantizer's networks with
        minibatch statistics.

    Returns:
      `y_q` `[N, H, W, C]` and `log q` `[N]`.
    """
    y = tf.cast(y, self.compute_dtype)
    if self.dequantizer is None:
      return y, tf.zeros(tf.shape(y)[:1], y.dtype)
    return self.dequantizer(y, training=training)

  def initialize(self, y, condition=None):
    """Data-dependent initialisation of the flow's steps (Glow's actnorm),
    from a batch of uniformly dequantised pixels `y` `[N, H, W, C]` (and its
    conditions). Does nothing for steps without it, or if done before
    (`flow.needs_initialization`). `fit` and `train.py` call it on the
    first training batch; call it in eager mode."""
    y, _ = self.dequantized(self._inputs.images(y, "initialize"))
    condition = self._inputs.required_vector(condition, y)
    self.flow.initialize(self._preprocessing().inverse(y), condition)

  # --- Latents and samples --------------------------------------------------

  def encode(self, y, condition=None, training=False, per_scale=False):
    """Latents of float pixels `y` `[N, H, W, C]`.

    Args:
      y: float pixels `[N, H, W, C]` in `[0, 256)`.
      condition: as in `log_prob`.
      training: batch normalisation with minibatch statistics.
      per_scale: `False`: `z` `[N, H, W, C]`, the image's shape. `True`: a
        list of the pieces each scale factored out, fine to coarse
        (`tf_realnvp.flow.MultiScaleFlow.split_latents`; 28x28x1 with 2
        scales: `[N, 14, 14, 2]` twice). The same entries as `z`, permuted.
    """
    y = self._inputs.images(y, "encode")
    z = self._bijector(training,
                       self._inputs.required_vector(condition, y)).inverse(y)
    return self.flow.split_latents(z) if per_scale else z

  def decode(self, z, condition=None, per_scale=False):
    """Pixels `y = bijector.forward(z)` `[N, H, W, C]` of latents `z`.

    The exact inverse of `encode` in evaluation mode. Values are not clipped:
    they lie in about (-14.2, 270.2) for alpha = 0.05 (see `PixelLogit`);
    `decode(encode(y))` returns `y`.

    Args:
      z: latents `[N, H, W, C]`, or with `per_scale=True` the list of
        per-scale pieces `encode(y, per_scale=True)` returns (fine to coarse;
        `merge_latents` checks their number and shapes).
      condition: as in `log_prob`.
      per_scale: whether `z` is a list of per-scale pieces.
    """
    if per_scale:
      z = self.flow.merge_latents(
          [tf.cast(piece, self.compute_dtype) for piece in z])
    z = self._inputs.images(z, "decode")
    return self._bijector(
        False, self._inputs.required_vector(condition, z)).forward(z)

  def sample(self, n, temperature=1.0, seed=None, condition=None):
    """`n` images, float32 `[n, H, W, C]` in `[0, 256)`.

    Draws `z ~ N(0, temperature^2 I)` and returns `decode(z)` clipped to
    `[0, 256)` (the logit preprocessing can produce values slightly outside;
    `tf_realnvp.pixels.to_uint8` then gives 8-bit images). Sampling costs one
    pass through the flow, like inference.

    Args:
      n: number of samples, an int `>= 0` (or a scalar int `Tensor`).
      temperature: `>= 0`; 0 decodes the zero latent.
      seed: `None` for fresh randomness, or an int / stateless seed `[2]`
        for reproducible samples.
      condition: for a conditional model (required), one label / vector
        `[A]` for all `n` images, or `n` of them (`[n]` / `[n, A]`).
    """
    if isinstance(n, (int, np.integer)) and n < 0:
      raise ValueError(f"sample: n must be >= 0, received {n}.")
    if isinstance(temperature, (int, float)) and temperature < 0:
      raise ValueError(
          f"sample: temperature must be >= 0, received {temperature}.")
    shape = tf.concat([tf.reshape(tf.cast(n, tf.int32), [1]),
                       self.image_shape], axis=0)
    z = temperature * tf.random.stateless_normal(
        shape, seeds.stateless_seed(seed), dtype=self.compute_dtype)
    return tf.clip_by_value(self.decode(z, condition), 0.0, pixels.MAX_PIXEL)

  # --- Keras ----------------------------------------------------------------

  def call(self, inputs, training=None):
    """`model(y)` is `log_prob(y)`: `[N]` log-densities of float pixels;
    `model((y, c))` is `log_prob(y, c)` for a conditional model."""
    y, condition = self._inputs.unpack_call(inputs)
    return self.log_prob(y, condition, training=bool(training))

  def _default_save_signature(self):
    """Keras's default SavedModel signature, `model(y)` on images of the
    build shape; none for a conditional model, whose call needs its
    condition (`tf_realnvp.export` writes the serving signatures)."""
    if self.conditioning:
      return None
    return super()._default_save_signature()

  def compute_output_shape(self, input_shape):
    if self.conditioning:
      input_shape = input_shape[0]
    return (input_shape[0],)

  def get_config(self):
    config = super().get_config()
    config.update(self.config.to_dict())
    config.update(dtype=keras.dtype_policies.serialize(
        self.network_dtype_policy))
    return config
