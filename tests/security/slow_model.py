"""A real MLflow pyfunc model for the serving tests: it predicts ``2 * x`` after sleeping ``max(x)``
seconds, so a test can hold a prediction in flight and see what else the server still answers."""

from __future__ import annotations

import time

import mlflow.pyfunc


class SlowDouble(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        time.sleep(float(model_input["x"].max()))
        return model_input["x"] * 2.0
