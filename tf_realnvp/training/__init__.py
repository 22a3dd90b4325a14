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
- the step itself, its optimizer, learning rate, weight average and loss
  scale are `tf_realnvp.optimization`'s (shared with `RealNVP.fit`);
- `graph_options`: the Grappler passes of the compiled steps;
- `progress`: the progress bar.
"""

from tf_realnvp.run_config import TrainConfig
from tf_realnvp.training.loop import DISCRETE_BITS_PER_DIM
from tf_realnvp.training.loop import prepare_trainer
from tf_realnvp.training.loop import run
from tf_realnvp.training.loop import train
from tf_realnvp.optimization.optimizers import FusedAdam
from tf_realnvp.optimization.step import TrainingDiverged
from tf_realnvp.training.trainer import Trainer
from tf_realnvp.training.trainer import TrainingError
from tf_realnvp.training.trainer import fingerprint

__all__ = ["DISCRETE_BITS_PER_DIM", "FusedAdam", "TrainConfig", "Trainer", "TrainingDiverged",
           "TrainingError", "fingerprint", "prepare_trainer", "run", "train"]
