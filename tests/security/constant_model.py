"""A real MLflow pyfunc model for the artifact tests: it predicts ``level`` for every row, whatever
the columns, so a test can score any features day and tell two versions apart."""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np


class Constant(mlflow.pyfunc.PythonModel):
    def __init__(self, level: float = 1.0):
        self.level = level

    def predict(self, context, model_input, params=None):
        return np.full(len(model_input), self.level)
