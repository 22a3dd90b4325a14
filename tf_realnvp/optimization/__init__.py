"""How a `RealNVP` takes an optimizer step: `TrainStep`, used by `train.py`
(`tf_realnvp.training.Trainer`) and by `RealNVP.fit` alike.

- `step`: `TrainStep`, the guarded step, and `TrainingDiverged`;
- `optimizers`: `FusedAdam`, Keras's Adam with one kernel per variable;
- `schedules`: `LearningRate`, warm-up and a constant or cosine rate;
- `averaging`: `WeightAverage`, the exponential moving average of weights;
- `loss_scaling`: `DynamicLossScale`, for float16 s/t networks.
"""

from tf_realnvp.optimization.averaging import WeightAverage
from tf_realnvp.optimization.loss_scaling import DynamicLossScale
from tf_realnvp.optimization.optimizers import FusedAdam
from tf_realnvp.optimization.schedules import LearningRate
from tf_realnvp.optimization.step import TrainStep
from tf_realnvp.optimization.step import TrainingDiverged

__all__ = ["DynamicLossScale", "FusedAdam", "LearningRate", "TrainStep",
           "TrainingDiverged", "WeightAverage"]
