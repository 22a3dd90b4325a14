"""The signatures an exported `RealNVP` serves: one table.

`tf_realnvp.export` builds the SavedModel's signatures from `signatures`,
`export/README.md` shows `markdown_table` (a test compares them), and TF
Serving describes the same to clients through its model metadata, which
`export/client.py` reads instead of a table of its own.

Shapes are written with symbols: `N` the batch (`None` in the SavedModel),
`H, W, C` the model's image shape, `K` its classes, `A` the length of its
condition vectors; `()` is a scalar.
"""

import dataclasses

__all__ = ["ANOMALY", "CLASSIFY", "DECISIONS", "MAX_NUM_SAMPLES",
           "SERVING_DEFAULT", "Signature", "Tensor", "markdown_table",
           "signatures"]

# The largest `num_samples` (or number of conditions) of one `sample`
# request: bounds the memory and time of a request to a batch of this size.
MAX_NUM_SAMPLES = 1024


@dataclasses.dataclass(frozen=True)
class Tensor:
  """A named input or output: dtype name, symbolic shape, what it holds."""
  name: str
  dtype: str
  shape: tuple
  meaning: str

  def concrete_shape(self, image_shape, num_classes=None,
                     condition_length=None):
    """The shape with `None` for `N` and the symbols resolved."""
    height, width, channels = image_shape
    sizes = dict(N=None, H=height, W=width, C=channels, K=num_classes,
                 A=condition_length)
    return tuple(sizes[d] if isinstance(d, str) else d for d in self.shape)


@dataclasses.dataclass(frozen=True)
class Signature:
  """A served signature: its inputs and outputs, in order."""
  name: str
  inputs: tuple
  outputs: tuple
  meaning: str


IMAGES = Tensor("images", "uint8", ("N", "H", "W", "C"), "8-bit images")
LATENTS = Tensor("latents", "float32", ("N", "H", "W", "C"),
                 "latents, the images' shape")
LABELS = Tensor("labels", "int32", ("N",),
                "class labels in [0, K), one per image")
CONDITION = Tensor("condition", "float32", ("N", "A"),
                   "condition vectors, one per image")
NUM_SAMPLES = Tensor("num_samples", "int32", (),
                     f"images to draw, in [0, {MAX_NUM_SAMPLES}]")
TEMPERATURE = Tensor("temperature", "float32", (),
                     "the latents' standard deviation, > 0")
SEED = Tensor("seed", "int32", (), "the same seed gives the same images")
LOG_PROB = Tensor("log_prob", "float32", ("N",),
                  "log P(x), the discrete log-likelihood (nats), "
                  "importance-weighted")
BITS_PER_DIM = Tensor("bits_per_dim", "float32", ("N",),
                      "-log2 P(x) / (H W C)")
PROBABILITIES = Tensor("probabilities", "float32", ("N", "K"),
                       "p(k | x) by Bayes' rule with the stored class prior")
LOG_LIKELIHOODS = Tensor("log_likelihoods", "float32", ("N", "K"),
                         "log P(x | k) of every class")
CLASS = Tensor("class", "int32", ("N",), "the most probable class")
ANOMALY_SCORE = Tensor("anomaly_score", "float32", ("N",),
                       "the calibrated score (higher: stranger)")
P_VALUE = Tensor("p_value", "float32", ("N",),
                 "its tail probability among held-out inliers")
IS_ANOMALY = Tensor("is_anomaly", "bool", ("N",),
                    "anomaly_score above the calibrated threshold")

CLASSIFY = "classify"
ANOMALY = "anomaly"
# The signature TF Serving answers when a request names none.
SERVING_DEFAULT = "serving_default"
# The outputs of `anomaly` beside each score (`tf_realnvp.anomaly.scores`).
DECISIONS = tuple(t.name for t in (ANOMALY_SCORE, P_VALUE, IS_ANOMALY))


def _score(name):
  return Tensor(name, "float32", ("N",), "an anomaly score")


def signatures(conditioning=None, score_names=None):
  """The served signatures of a model, in the order they are exported (the
  first is also `SERVING_DEFAULT`).

  Args:
    conditioning: the model's `tf_realnvp.conditions.Conditioning`, or
      `None` for an unconditional model.
    score_names: the anomaly scores of an export with an anomaly detector
      (`AnomalyDetector.score_names`), or `None` for none.

  Returns:
    A list of `Signature`s: `log_prob`, `sample`, `encode`, `decode`, then
    `classify` for a class model and `anomaly` with `score_names`. A
    conditional model's take its condition (`labels` or `condition`) after
    their images or latents; its `sample` draws one image per condition and
    has no `num_samples`.
  """
  condition = ([] if conditioning is None else
               [LABELS if conditioning.is_class else CONDITION])
  sample_inputs = (condition or [NUM_SAMPLES]) + [TEMPERATURE, SEED]
  table = [
      Signature("log_prob", tuple([IMAGES] + condition),
                (LOG_PROB, BITS_PER_DIM),
                "the discrete likelihood of each image"),
      Signature("sample", tuple(sample_inputs), (IMAGES,),
                "images drawn at a temperature, reproducibly"
                + (", one per condition" if condition else "")),
      Signature("encode", tuple([IMAGES] + condition), (LATENTS,),
                "latents of the images at their pixels' bin centres"),
      Signature("decode", tuple([LATENTS] + condition), (IMAGES,),
                "images of latents: decode(encode(x)) == x"),
  ]
  if conditioning is not None and conditioning.is_class:
    table.append(Signature(CLASSIFY, (IMAGES,),
                           (PROBABILITIES, LOG_LIKELIHOODS, CLASS),
                           "the generative classifier"))
  if score_names is not None:
    table.append(Signature(
        ANOMALY, (IMAGES,),
        (ANOMALY_SCORE, P_VALUE, IS_ANOMALY) + tuple(
            _score(name) for name in score_names),
        "calibrated anomaly scores"))
  return table


def _describe(tensors):
  return ", ".join(
      f"`{t.name}` {t.dtype} `[{', '.join(map(str, t.shape))}]`"
      for t in tensors)


def markdown_table(conditioning=None, with_anomaly=False):
  """The signatures as the Markdown table of `export/README.md` (the anomaly
  scores summarised, as they depend on the calibration)."""
  lines = ["| signature | inputs | outputs |", "|---|---|---|"]
  for signature in signatures(conditioning, [] if with_anomaly else None):
    name = f"`{signature.name}`"
    if signature.name == "log_prob":
      name += f" (also `{SERVING_DEFAULT}`)"
    outputs = _describe(signature.outputs)
    if signature.name == ANOMALY:
      outputs += ", and each score by name, float32 `[N]`"
    lines.append(f"| {name} | {_describe(signature.inputs)} | {outputs} |")
  return "\n".join(lines)
