"""Training `RealNVP` under any `tf.distribute.Strategy`.

```python
from tf_realnvp.training import TrainConfig, train
last = train(TrainConfig(workdir="runs/fm", dataset="fashion_mnist",
                         num_blocks=2, num_filters=16, train_steps=1200))
last["test_bits_per_dim"]
```

- `config`: `TrainConfig`, its constraints, and the model it describes;
- `trainer`: `Trainer`, the model, optimizer, checkpoint and compiled steps;
- `loop`: `train` / `run`, the job with its periodic checkpoints,
  evaluations, samples, summaries and progress bar;
- `strategies`: the `tf.distribute` strategy named by `train.py --strategy`;
- `optimizers`: `FusedAdam`, Keras's Adam with one kernel per variable;
- `schedules`: `LearningRate`, warm-up and a constant or cosine rate;
- `averaging`: `WeightAverage`, the exponential moving average of weights;
- `loss_scaling`: `DynamicLossScale`, for float16 s/t networks;
- `graph_options`: the Grappler passes of the compiled steps;
- `progress`: the progress bar.
"""

from tf_realnvp.training.config import TrainConfig
from tf_realnvp.training.loop import prepare_trainer
from tf_realnvp.training.loop import run
from tf_realnvp.training.loop import train
from tf_realnvp.training.optimizers import FusedAdam
from tf_realnvp.training.trainer import Trainer
from tf_realnvp.training.trainer import TrainingDiverged
from tf_realnvp.training.trainer import TrainingError
from tf_realnvp.training.trainer import fingerprint

__all__ = ["FusedAdam", "TrainConfig", "Trainer", "TrainingDiverged",
           "TrainingError", "fingerprint", "prepare_trainer", "run", "train"]
