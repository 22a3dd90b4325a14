"""`RealNVP`: the Keras model that owns the flow's layers and builds its TFP distribution."""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tf_realnvp import conditions
from tf_realnvp import latents
from tf_realnvp import losses
from tf_realnvp import pixels
from tf_realnvp import seeds
from tf_realnvp.bijectors import multiscale
from tf_realnvp.bijectors.conditioned import Conditioned
from tf_realnvp.bijectors.conditioned import conditional_kwargs
from tf_realnvp.bijectors.preprocessing import PixelLogit
from tf_realnvp.dequantization import DEQUANTIZATIONS
from tf_realnvp.dequantization import VariationalDequantizer
from tf_realnvp.layers.batch_norm import BatchNormalization
from tf_realnvp.layers.resnet import CouplingResNet
from tf_realnvp.layers.squeeze import Squeeze

__all__ = ["DTYPE_POLICIES", "RealNVP"]

tfb = tfp.bijectors
tfd = tfp.distributions

# The Keras dtype policies of the s/t networks a `RealNVP` trains with (see
# `RealNVP(dtype=...)`); the flow itself always computes in float32.
DTYPE_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


@keras.saving.register_keras_serializable(package="tf_realnvp")
class RealNVP(keras.Model):
  r"""Real NVP (Dinh, Sohl-Dickstein & Bengio, ICLR 2017) on images.

  The model is a density on dequantised pixel space `[0, 256)^D`,
  `D = H * W * C`:

  $$\log p(y) = \log \mathcal N(f(y); 0, I)
      + \log\left|\det \frac{\partial f(y)}{\partial y}\right|,$$

  (paper, equation 3) where `f`, the data-to-latent map, is the pixel
  preprocessing `logit(alpha + (1 - 2 alpha) y / 256)` followed by the
  multi-scale stack of affine couplings (`tf_realnvp.bijectors`). The whole
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

  The model owns every Keras layer, so `model.trainable_variables` is the
  complete list for an optimizer, `model.losses` holds the L2 penalty on the
  weight-norm scales, and `tf.train.Checkpoint(model=model)` saves the
  running batch-norm statistics too. Distributions and bijectors are built on
  demand around these layers; they hold no variables of their own.

  Args:
    image_shape: `(H, W, C)` of the images; `H` and `W` divisible by
      `2 ** (num_scales - 1)`.
    num_scales: scales of the multi-scale architecture, `>= 1`.
    num_blocks: residual blocks per s/t network, `>= 0`.
    num_filters: feature maps of the first scale's s/t networks (doubling at
      each scale), `>= 1`.
    alpha: the logit preprocessing's margin, in `(0, 0.5)`.
    l2_scale: L2 penalty on the weight-norm scales (paper: 5e-5), `>= 0`.
    batch_norm_momentum: decay of the running batch-norm averages, `[0, 1)`.
    average_in_training: normalise with running averages in training mode
      (paper, appendix E; see `tf_realnvp.layers.BatchNormalization`).
    coupling_batch_norm: a batch-norm bijector after every coupling.
    synchronized_batch_norm: all-reduce batch moments across replicas.
    recompute_gradients: in training mode, recompute each coupling
      network's activations in the backward pass instead of storing them
      (`tf_realnvp.recompute`): much less memory for about one more forward
      pass of compute. Not with `average_in_training`.
    num_classes: `K >= 2` for a class-conditional flow, else `None`.
    condition_shape: `(A,)` for a flow conditioned on vectors of length `A`,
      else `None` (at most one of `num_classes` and `condition_shape`).
    dequantization: `"uniform"` (the paper's: bits/dim of `x + u`,
      `u ~ U[0, 1)^D`) or `"variational"`: a learned noise density
      `q(u | x)` (`tf_realnvp.dequantization.VariationalDequantizer`, four
      checkerboard couplings of `num_filters` maps, one residual block),
      trained with the flow; `bits_per_dim` is then the variational bound
      `-log p(x + u) + log q(u | x)`, `u ~ q`, an upper bound on
      `-log P(x)`. The density itself (`log_prob`, `distribution`) is the
      flow's either way.
    dtype: the Keras dtype policy of the s/t networks (default: Keras's
      global policy). With a mixed policy such as `"mixed_bfloat16"` their
      convolutions run in bfloat16 (several times faster on GPUs, TPUs and
      CPUs with AMX) while everything else stays in the variable dtype,
      float32: the weights, the pixels, the coupling arithmetic, the
      batch-norm bijectors, every log-determinant and the base density. The
      model's own `dtype_policy` is therefore always the variable dtype, so
      that `model(y)` never casts pixels; `network_dtype_policy` holds the
      requested policy. `"mixed_float16"` (GPUs without fast bfloat16)
      trains with dynamic loss scaling: `compile` wraps the optimizer in
      `keras.optimizers.LossScaleOptimizer`, `train.py` scales the loss
      itself (`tf_realnvp.training.loss_scaling`).
    **kwargs: `keras.Model` arguments (`name`, `trainable`).
  """

  def __init__(self,
               image_shape,
               num_scales=2,
               num_blocks=4,
               num_filters=32,
               alpha=0.05,
               l2_scale=5e-5,
               batch_norm_momentum=0.95,
               average_in_training=False,
               coupling_batch_norm=True,
               synchronized_batch_norm=False,
               recompute_gradients=False,
               num_classes=None,
               condition_shape=None,
               dequantization="uniform",
               name="real_nvp",
               dtype=None,
               **kwargs):
    network_policy = keras.dtype_policies.get(dtype or
                                              keras.config.dtype_policy())
    super().__init__(name=name, dtype=network_policy.variable_dtype, **kwargs)
    self.network_dtype_policy = network_policy
    self.layout = multiscale.multiscale_layout(image_shape, num_scales,
                                               num_filters)
    if int(num_blocks) != num_blocks or num_blocks < 0:
      raise ValueError(f"num_blocks must be an int >= 0, received {num_blocks!r}.")
    self.image_shape = tuple(int(d) for d in image_shape)
    self.num_scales = int(num_scales)
    self.num_blocks = int(num_blocks)
    self.num_filters = int(num_filters)
    self.alpha = PixelLogit(alpha).alpha  # Validates alpha.
    self.l2_scale = float(l2_scale)
    self.batch_norm_momentum = float(batch_norm_momentum)
    self.average_in_training = bool(average_in_training)
    self.coupling_batch_norm = bool(coupling_batch_norm)
    self.synchronized_batch_norm = bool(synchronized_batch_norm)
    self.recompute_gradients = bool(recompute_gradients)
    if self.recompute_gradients and self.average_in_training:
      raise ValueError("recompute_gradients cannot be combined with "
                       "average_in_training (the recomputation would read "
                       "the running averages after their update).")
    if dequantization not in DEQUANTIZATIONS:
      raise ValueError(f"dequantization must be one of {DEQUANTIZATIONS}, "
                       f"received {dequantization!r}.")
    self.dequantization = dequantization
    self.conditioning = None if (
        num_classes is None and condition_shape is None) else (
            conditions.Conditioning(num_classes, condition_shape))

    specs = multiscale.couplings(self.layout)
    # Layer collections are tuples: Keras 3 and tf.train.Checkpoint both
    # track a tuple's layers, while tf.train.Checkpoint silently skips the
    # lists Keras 3 wraps (keras-team/keras#19425).
    self.coupling_networks = tuple(
        CouplingResNet(
            output_channels=spec.mask().transformed_channels,
            num_filters=spec.num_filters,
            num_blocks=self.num_blocks,
            l2_scale=self.l2_scale,
            batch_norm_momentum=self.batch_norm_momentum,
            average_in_training=self.average_in_training,
            synchronized_batch_norm=self.synchronized_batch_norm,
            condition_dim=self.conditioning.dim if self.conditioning else 0,
            dtype=self.network_dtype_policy,
            name=f"coupling{i}_network") for i, spec in enumerate(specs))
    self.coupling_norms = tuple(
        BatchNormalization(
            momentum=self.batch_norm_momentum,
            average_in_training=self.average_in_training,
            synchronized=self.synchronized_batch_norm,
            dtype=self.dtype_policy,
            name=f"coupling{i}_norm") for i in range(len(specs))
    ) if self.coupling_batch_norm else ()
    self.squeezes = tuple(
        Squeeze(dtype=self.dtype_policy, name=f"scale{i}_squeeze")
        for i in range(self.num_scales - 1))
    self.dequantizer = VariationalDequantizer(
        self.image_shape,
        num_filters=self.num_filters,
        l2_scale=self.l2_scale,
        batch_norm_momentum=self.batch_norm_momentum,
        synchronized_batch_norm=self.synchronized_batch_norm,
        dtype=self.network_dtype_policy,
        name="dequantizer") if dequantization == "variational" else None
    self._bits_per_dim_tracker = keras.metrics.Mean(name="bits_per_dim")
    self.build((None,) + self.image_shape)

  def build(self, input_shape=None):
    """Creates every variable (the shapes follow from `image_shape`)."""
    specs = multiscale.couplings(self.layout)
    for spec, network in zip(specs, self.coupling_networks):
      network.build((None,) + spec.event_shape[:2] +
                    (spec.mask().network_input_channels,))
    for spec, norm in zip(specs, self.coupling_norms):
      norm.build((None,) + spec.event_shape)
    for scale, squeeze in zip(self.layout, self.squeezes):
      squeeze.build((None,) + scale.event_shape)
    if self.dequantizer is not None:
      self.dequantizer.build()
    if self.num_classes:
      # Not trained: `train.py` sets it from the training labels' counts.
      self.class_log_prior = self.add_weight(
          shape=(self.num_classes,), name="class_log_prior", trainable=False,
          initializer=keras.initializers.Constant(-np.log(self.num_classes)))

  @property
  def num_classes(self):
    """`K` of a class-conditional model, else `None`."""
    return self.conditioning.num_classes if self.conditioning else None

  @property
  def condition_shape(self):
    """`(A,)` of a vector-conditional model, else `None`."""
    return self.conditioning.condition_shape if self.conditioning else None

  @property
  def num_dims(self):
    """`D = H * W * C`."""
    return int(np.prod(self.image_shape))

  def bijector(self, training=False, condition=None):
    """The flow as one `tfb.Chain`: `forward` latent -> pixels, `inverse` back.

    The chain's first element is the `PixelLogit` preprocessing; the rest is
    `tf_realnvp.bijectors.multiscale_bijectors`. Built anew on each call
    (cheap: it only wraps the model's layers), so TFP's bijector cache never
    outlives a step.

    Args:
      training: Python bool, batch normalisation with minibatch statistics
        (and running-average updates) in `inverse`; never the direction.
      condition: for a conditional model, the condition bound to every
        coupling (labels `[...]` or vectors `[..., A]`; see
        `tf_realnvp.conditions`), or `None` to pass it to each call with
        `**self.bijector_kwargs(condition)`.
    """
    return self._bijector(training, self._optional_vector(condition))

  def _bijector(self, training, condition_vector):
    norms = self.coupling_norms or (None,) * len(self.coupling_networks)
    chain = tfb.Chain(
        [PixelLogit(self.alpha, dtype=self.compute_dtype)] +
        multiscale.multiscale_bijectors(
            self.layout, self.coupling_networks, norms, self.squeezes,
            training, recompute=training and self.recompute_gradients),
        name="real_nvp")
    if condition_vector is None:
      return chain
    return Conditioned(chain, condition_vector, self.image_shape,
                       name="real_nvp_conditioned")

  def bijector_kwargs(self, condition):
    """TFP's keyword arguments that condition the whole flow on `condition`.

    `dist.log_prob(y, bijector_kwargs=model.bijector_kwargs(c))` and
    `dist.sample(n, bijector_kwargs=model.bijector_kwargs(c))` for
    `dist = model.distribution()`, or `model.bijector().forward(z,
    **model.bijector_kwargs(c))`: a nested dict, keyed by the chain's
    bijector names, that reaches every coupling
    (`tf_realnvp.bijectors.conditional_kwargs`). The condition's batch shape
    broadcasts against the input's batch shape (for `sample(n)`: `[n]`).

    Args:
      condition: labels `[...]` (int in `[0, K)`) or vectors `[..., A]`.
    """
    return conditional_kwargs(self.bijector(),
                              self._condition_vector(condition))

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

    Training mode note: TFP caches bijector results by input tensor. Build a
    new distribution for each training step (as `training.py` does) rather
    than reusing one across optimizer updates.
    """
    return self._distribution(training, self._optional_vector(condition))

  def _distribution(self, training, condition_vector):
    batch_shape = ([] if condition_vector is None else
                   tf.shape(condition_vector)[:-1])
    zeros = tf.zeros(batch_shape, self.compute_dtype)
    base = tfd.Sample(tfd.Normal(zeros, zeros + 1.0),
                      sample_shape=self.image_shape)
    return tfd.TransformedDistribution(
        base, self._bijector(training, condition_vector), name="RealNVP")

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
    y = self._check(y, "log_prob")
    return self._distribution(training,
                              self._required(condition, y)).log_prob(y)

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
    images = self._check(images, "bits_per_dim", dtype=tf.uint8)
    y = tf.cast(pixels.dequantize(images, seeds.stateless_seed(seed)),
                self.compute_dtype)
    return losses.bits_per_dim(self, y, training, condition)

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

  def class_log_likelihoods(self, images, seed=None):
    """`log p(x + u | k)` `[N, K]` for every class `k` of a class model.

    Evaluation mode, one pass of the flow over `N * K` images.

    Args:
      images: uint8 `[N, H, W, C]`, dequantised once with `seed` (the same
        noise for every class; `u ~ q(u | x)` under variational
        dequantisation, see `dequantized`); or float pixels `[N, H, W, C]`
        in `[0, 256)`, used as they are (e.g. an already dequantised batch).
      seed: the dequantisation noise of uint8 images, as in `bits_per_dim`.
    """
    self._require_classes("class_log_likelihoods")
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
      y, _ = self.dequantized(tf.cast(pixels.dequantize(
          self._check(images, "class_log_likelihoods", dtype=tf.uint8),
          seeds.stateless_seed(seed)), self.compute_dtype))
    else:
      y = self._check(images, "class_log_likelihoods")
    labels = tf.range(self.num_classes)[:, None]  # [K, 1] vs y [N, ...].
    return tf.transpose(self.distribution(condition=labels).log_prob(y))

  def classify(self, images, seed=None):
    """`p(k | x)` `[N, K]`: the generative classifier of a class model.

    Bayes' rule, `p(k | x) = softmax_k(log p(x + u | k) + log p(k))` with
    the class prior `p(k)` of the training labels (`class_log_prior`, set
    by `train.py`; uniform until then) and dequantisation noise `u` keyed by
    `seed` (`class_log_likelihoods`). `argmax` gives the predicted class.
    """
    self._require_classes("classify")
    return tf.nn.softmax(self.class_log_likelihoods(images, seed) +
                         self.class_log_prior, axis=-1)

  def set_class_prior(self, counts):
    """Sets `class_log_prior` to `log(counts / sum(counts))`.

    Args:
      counts: `[K]` non-negative numbers (e.g. training labels per class),
        each class at least once.
    """
    self._require_classes("set_class_prior")
    counts = np.asarray(counts, np.float64)
    if counts.shape != (self.num_classes,) or np.any(counts <= 0):
      raise ValueError(f"set_class_prior expects {self.num_classes} positive "
                       f"counts, received {counts.tolist()}.")
    self.class_log_prior.assign(np.log(counts / counts.sum()))

  def encode(self, y, condition=None, training=False, per_scale=False):
    """Latents of float pixels `y` `[N, H, W, C]`.

    Args:
      y: float pixels `[N, H, W, C]` in `[0, 256)`.
      condition: as in `log_prob`.
      training: batch normalisation with minibatch statistics.
      per_scale: `False`: `z` `[N, H, W, C]`, the image's shape. `True`: a
        list of the pieces each scale factored out, fine to coarse (the order
        of `self.layout`): piece `i < num_scales - 1` is
        `[N, H / 2^(i+1), W / 2^(i+1), 2^(i+1) C]`, the last is the last
        scale's whole latent, `[N, H / 2^(L-1), W / 2^(L-1), 2^(L-1) C]`
        (28x28x1, 2 scales: `[N, 14, 14, 2]` twice). The same entries as
        `z`, permuted (`tf_realnvp.latents.split_latents`).
    """
    y = self._check(y, "encode")
    z = self._bijector(training, self._required(condition, y)).inverse(y)
    if per_scale:
      return latents.split_latents(z, self.layout, self.squeezes)
    return z

  def decode(self, z, condition=None, per_scale=False):
    """Pixels `y = bijector.forward(z)` `[N, H, W, C]` of latents `z`.

    The exact inverse of `encode` in evaluation mode. Values are not clipped:
    they lie in about (-14.2, 270.2) for alpha = 0.05 (see `PixelLogit`);
    `decode(encode(y))` returns `y`.

    Args:
      z: latents `[N, H, W, C]`, or with `per_scale=True` the list of
        per-scale pieces `encode(y, per_scale=True)` returns (fine to coarse;
        `tf_realnvp.latents.merge_latents` checks their number and shapes).
      condition: as in `log_prob`.
      per_scale: whether `z` is a list of per-scale pieces.
    """
    if per_scale:
      z = latents.merge_latents(
          [tf.cast(piece, self.compute_dtype) for piece in z], self.layout,
          self.squeezes)
    z = self._check(z, "decode")
    return self._bijector(False, self._required(condition, z)).forward(z)

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

  def call(self, inputs, training=None):
    """`model(y)` is `log_prob(y)`: `[N]` log-densities of float pixels;
    `model((y, c))` is `log_prob(y, c)` for a conditional model."""
    y, condition = self._unpack(inputs)
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

  # --- Keras `fit` / `evaluate` -------------------------------------------

  @property
  def metrics(self):
    return [self._bits_per_dim_tracker]

  def compile(self, optimizer="rmsprop", *args, auto_scale_loss=True,
              **kwargs):
    """`keras.Model.compile`; with float16 s/t networks
    (`dtype="mixed_float16"`) and `auto_scale_loss` (the default) the
    optimizer is wrapped in `keras.optimizers.LossScaleOptimizer`, as Keras
    does for a model whose own policy is `mixed_float16` (this model's own
    policy is float32, see `dtype`)."""
    super().compile(optimizer, *args, auto_scale_loss=auto_scale_loss,
                    **kwargs)
    if (auto_scale_loss and self._float16_networks() and
        not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)):
      self.optimizer = keras.optimizers.LossScaleOptimizer(
          self.optimizer, name="loss_scale_optimizer")

  def _float16_networks(self):
    return self.network_dtype_policy.compute_dtype == "float16"

  def train_step(self, data):
    """One `fit` step on float pixels (`data` is `y`, or `(y, ...)`; for a
    conditional model `(y, condition)`).

    Uses `tf_realnvp.losses.training_loss`, the objective of `train.py`:
    batch norm in training mode, the loss scaled for `tf.distribute`, and by
    the optimizer's loss scale (`optimizer.scale_loss`, as in Keras's own
    `train_step`). Reports `bits_per_dim`, the mean over the batch (the L2
    penalty excluded). Gradient clipping is the optimizer's
    (`global_clipnorm`).

    Raises:
      ValueError: the s/t networks compute in float16 and the optimizer
        does no loss scaling (their gradients would underflow).
    """
    if self._float16_networks() and not isinstance(
        self.optimizer, keras.optimizers.LossScaleOptimizer):
      raise ValueError(
          f"Training a RealNVP with dtype policy "
          f"{self.network_dtype_policy.name!r} needs loss scaling: compile "
          "with auto_scale_loss=True (the default) or a "
          "keras.optimizers.LossScaleOptimizer.")
    y, condition = self._unpack_data(data)
    with tf.GradientTape() as tape:
      loss, per_example = losses.training_loss(self, y, condition=condition)
      loss = self.optimizer.scale_loss(loss)
    grads = tape.gradient(loss, self.trainable_variables)
    self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
    return self._track(per_example)

  def test_step(self, data):
    """Evaluation-mode bits/dim (running batch-norm averages) of `y`."""
    y, condition = self._unpack_data(data)
    return self._track(losses.bits_per_dim(self, y, False, condition))

  def _track(self, per_example_bits_per_dim):
    tracker = self.metrics[0]
    tracker.update_state(per_example_bits_per_dim)
    return {tracker.name: tracker.result()}

  def _unpack(self, inputs):
    """`(y, condition)` of `model(...)`'s inputs: `(y, c)` for a conditional
    model, `y` otherwise."""
    if self.conditioning is None:
      return inputs, None
    if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
      raise ValueError("This model is conditional: call it on (y, condition), "
                       f"received {type(inputs).__name__}.")
    return tuple(inputs)

  def _unpack_data(self, data):
    """`(y, condition)` of a `fit`/`evaluate` element: `(y, c)` for a
    conditional model (Keras's `(x, y)`), `y` or `(y, ...)` otherwise."""
    x, target, _ = keras.utils.unpack_x_y_sample_weight(data)
    return (x, target) if self.conditioning else (x, None)

  def _condition_vector(self, condition, name="condition"):
    """Condition vectors `[..., dim]` (`tf_realnvp.conditions`); a
    ValueError for an unconditional model."""
    if self.conditioning is None:
      raise ValueError(f"This model is unconditional; it takes no {name}.")
    return self.conditioning.vector(condition, self.compute_dtype, name)

  def _optional_vector(self, condition):
    return None if condition is None else self._condition_vector(condition)

  def _required(self, condition, x):
    """The condition vectors for inputs `x` `[N, ...]`, checked: present
    exactly for a conditional model, and of a batch shape that is `[]` or
    `[N]` when both are known."""
    if condition is None and self.conditioning is None:
      return None
    if condition is None:
      return self._condition_vector(None)
    vector = self._condition_vector(condition)
    batch = vector.shape[:-1]
    if batch.rank is not None and (batch.rank > 1 or (
        batch.rank == 1 and not batch.is_compatible_with(x.shape[:1]))):
      raise ValueError(f"condition must be one condition or one per image "
                       f"(batch shape [] or [{x.shape[0]}]), received batch "
                       f"shape {batch.as_list()}.")
    return vector

  def _require_classes(self, method):
    if not self.num_classes:
      raise ValueError(f"{method} needs a class-conditional model "
                       "(RealNVP(num_classes=K)).")

  def _check(self, x, method, dtype=None):
    """Converts `x` to a `[N, H, W, C]` tensor or raises a ValueError.

    Float inputs are cast to the model's dtype unless `dtype` is given, in
    which case exactly that dtype is required.
    """
    x = tf.convert_to_tensor(x)
    if dtype is not None and x.dtype != dtype:
      raise ValueError(f"{method} expects {dtype.name} images, received dtype "
                       f"{x.dtype.name}.")
    if dtype is None and not x.dtype.is_floating:
      raise ValueError(
          f"{method} expects float pixels (dequantised, in [0, 256)), received "
          f"dtype {x.dtype.name}; for 8-bit images use bits_per_dim or "
          "tf_realnvp.pixels.dequantize.")
    expected = [None] + list(self.image_shape)
    if x.shape.rank is not None and not x.shape.is_compatible_with(expected):
      raise ValueError(f"{method} expects shape [N, H, W, C] = {expected}, "
                       f"received {x.shape}.")
    return x if dtype is not None else tf.cast(x, self.compute_dtype)

  def get_config(self):
    config = super().get_config()
    config.update(
        image_shape=self.image_shape,
        num_scales=self.num_scales,
        num_blocks=self.num_blocks,
        num_filters=self.num_filters,
        alpha=self.alpha,
        l2_scale=self.l2_scale,
        batch_norm_momentum=self.batch_norm_momentum,
        average_in_training=self.average_in_training,
        coupling_batch_norm=self.coupling_batch_norm,
        synchronized_batch_norm=self.synchronized_batch_norm,
        recompute_gradients=self.recompute_gradients,
        num_classes=self.num_classes,
        condition_shape=None if self.condition_shape is None else list(
            self.condition_shape),
        dequantization=self.dequantization,
        dtype=keras.dtype_policies.serialize(self.network_dtype_policy))
    return config

