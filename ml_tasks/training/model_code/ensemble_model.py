"""The pyfunc model MLflow stores for a weighted mean of two families' forecasts (models-from-code).

Each member is a whole MLflow model stored inside this one (an artifact folder), loaded as a pyfunc
and given the same rows; each takes the columns its own signature names. The metadata holds the
weights. Needs what the members need.
"""

import json

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel


class WeightedEnsemble(PythonModel):
    def load_context(self, context):
        with open(context.artifacts["metadata"]) as fh:
            meta = json.load(fh)
        self.members = [
            (mlflow.pyfunc.load_model(context.artifacts[name]), float(weight))
            for name, weight in meta["weights"].items()
        ]

    def predict(self, context, model_input, params=None):
        total = sum(weight * np.asarray(model.predict(model_input), dtype=float) for model, weight in self.members)
        return pd.Series(total, index=model_input.index, name="prediction")


mlflow.models.set_model(WeightedEnsemble())
