"""Writes examples read from a dataset's own files as the TFDS dataset of the
same name, all at once or not at all.

Some datasets cannot go through TFDS's `download_and_prepare` here: TFDS
checks the checksums of the files it finds in `manual_dir` against those it
registered for its download URLs (Debian's Fashion-MNIST files are compressed
differently; a re-zipped release or a test's small files differ), or needs a
reader this TensorFlow has no build for (LSUN's `tensorflow-io`). Their
readers (`fashion_mnist_offline`, `celeb_a_release`, `imagenet_resized_npz`,
`lsun_lmdb`) yield TFDS's own examples, with TFDS's keys, and `store` writes
them with `tfds.dataset_builders.store_as_tfds_dataset` under the registered
builder's name, config, version and features. Afterwards a plain
`tfds.builder(name, data_dir=data_dir)` finds the dataset prepared and loads it
as if TFDS had prepared it. Equal keys give TFDS's on-disk order (TFDS shuffles
the examples of a split by a hash of their keys).

Nothing half-written is left where TFDS looks: the dataset is written into a
hidden staging folder next to its final place (`<data_dir>/<name>/[<config>/]
.incomplete-<version>-*`) and renamed into place once complete; on any error
the staging folder is deleted. A process killed mid-way can leave the staging
folder behind, which TFDS ignores (it is not a version).
"""

import os
import shutil
import tempfile

import tensorflow_datasets as tfds

__all__ = ["store"]

_STAGING_PREFIX = ".incomplete-"


def store(name, split_examples, data_dir=None):
  """Writes `split_examples` as the registered TFDS dataset `name`.

  Args:
    name: a TFDS name with its config, e.g. `"celeb_a"` or `"lsun/bedroom"`.
    split_examples: `{split: iterable of (key, example)}`, each example a dict
      that TFDS's features of `name` encode (e.g. `{"image": jpeg_bytes,
      ...}`); iterated once, while writing.
    data_dir: TFDS data directory; `None` for TFDS's default.

  Returns:
    `tfds.builder(name, data_dir=data_dir)`, now prepared.

  Raises:
    Whatever the iterables raise (e.g. a reader's ValueError naming a bad
    file); the final folder is then not created.
  """
  reference = tfds.builder(name, data_dir=data_dir)
  target = os.fspath(reference.data_dir)  # .../<name>/[<config>/]<version>
  parent = os.path.dirname(target)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(
      prefix=f"{_STAGING_PREFIX}{os.path.basename(target)}-", dir=parent)
  config = reference.builder_config and reference.builder_config.name
  try:
    tfds.dataset_builders.store_as_tfds_dataset(
        name=reference.name,
        config=config,
        version=reference.version,
        features=reference.info.features,
        split_datasets=split_examples,
        data_dir=staging,
        description=reference.info.description,
        homepage=reference.info.homepage,
        citation=reference.info.citation,
    )
    written = os.path.join(staging, reference.name, *([config] if config
                                                      else []),
                           str(reference.version))
    os.rename(written, target)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return tfds.builder(name, data_dir=data_dir)
