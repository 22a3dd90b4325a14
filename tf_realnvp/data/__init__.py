"""Datasets for Real NVP: TFDS datasets and image folders as dequantised
pixels, deterministic and resumable.

```python
from tf_realnvp import data
data.prepare("fashion_mnist")                       # once; offline from Debian
train = data.train_dataset("fashion_mnist", 64, seed=0)   # float32 [64, 28, 28, 1]
test = data.eval_dataset("fashion_mnist", 256)            # one pass, fixed noise
labelled = data.train_dataset("fashion_mnist", 64, seed=0, conditional=True)
# (float32 [64, 28, 28, 1], int32 [64]); data.condition_spec("fashion_mnist")
dresses = data.train_dataset("fashion_mnist", 64, seed=0, classes=[3])
# only class 3; eval_dataset and load_images take classes=[3] too
data.prepare("celeb_a", manual_dir="/path/to/CelebA")  # the release's files
faces = data.train_dataset("folder:/faces", 64, seed=0, image_size=64,
                           folder_crop="celeb_a")  # the paper's CelebA crop
```

- `registry`: the datasets by name (`dataset_spec`, `known_names`), their
  image shapes, flips and splits, their conditions (`condition_spec`) and
  choices of their classes (`check_classes`);
- `preprocessing`: crops and resizes to the model's image shape;
- `sources`: a split's encoded examples (TFDS or a folder of images);
- `pipelines`: the training stream and evaluation passes (`train_dataset`,
  `eval_dataset`, `load_images`), every random choice keyed on the seed and
  the example's position;
- `download`: `prepare`, making a dataset available, or failing at once with what to do;
- `download_errors`: why a download failed, in words a user can act on;
- `tfds_store`: examples read from a dataset's own files written as its TFDS dataset;
- `release_files`: a release's files in a user's folder (flat or in sub-folders, zips or extracted);
- `celeb_a_release`, `imagenet_resized_npz`, `lsun_lmdb`: the readers of
  CelebA's release, downsampled ImageNet's npz zips and LSUN's LMDB exports;
- `fashion_mnist_offline`: Fashion-MNIST from Debian's package, no network.
"""

from tf_realnvp.data.pipelines import DEFAULT_SHUFFLE_BUFFER
from tf_realnvp.data.pipelines import check_folder
from tf_realnvp.data.pipelines import class_counts
from tf_realnvp.data.pipelines import eval_dataset
from tf_realnvp.data.pipelines import load_images
from tf_realnvp.data.pipelines import perturb
from tf_realnvp.data.pipelines import train_dataset
from tf_realnvp.data.download import prepare
from tf_realnvp.data.download import unreachable_endpoints
from tf_realnvp.data.preprocessing import resize_short_side
from tf_realnvp.data.preprocessing import resize_uint8
from tf_realnvp.data.registry import CELEB_A_ATTRIBUTES
from tf_realnvp.data.registry import ConditionSpec
from tf_realnvp.data.registry import DEFAULT_FOLDER_CROP
from tf_realnvp.data.registry import DEFAULT_NAME
from tf_realnvp.data.registry import DatasetSpec
from tf_realnvp.data.registry import FOLDER_CROPS
from tf_realnvp.data.registry import FOLDER_PREFIX
from tf_realnvp.data.registry import check_classes
from tf_realnvp.data.registry import condition_spec
from tf_realnvp.data.registry import dataset_spec
from tf_realnvp.data.registry import known_names
from tf_realnvp.data.registry import lsun_categories
from tf_realnvp.data.sources import DatasetUnavailableError
from tf_realnvp.data.sources import folder_files

__all__ = ["CELEB_A_ATTRIBUTES", "ConditionSpec", "DEFAULT_FOLDER_CROP",
           "DEFAULT_NAME", "DEFAULT_SHUFFLE_BUFFER", "DatasetSpec",
           "DatasetUnavailableError", "FOLDER_CROPS", "FOLDER_PREFIX",
           "check_classes", "check_folder", "class_counts", "condition_spec",
           "dataset_spec", "eval_dataset", "folder_files", "known_names",
           "load_images", "lsun_categories", "perturb", "prepare",
           "resize_short_side", "resize_uint8", "train_dataset",
           "unreachable_endpoints"]
