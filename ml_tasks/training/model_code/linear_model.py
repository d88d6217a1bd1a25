"""The pyfunc model MLflow stores for a linear classification baseline (models-from-code).

A logistic regression kept as plain numbers in a JSON file (no pickle), applied by
`linear_design.py` (stored with it as code); the base rate is the same model with no inputs.
Needs only mlflow, numpy and pandas.
"""

import json

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

try:
    import linear_design  # as stored beside the model (code_paths)
except ImportError:
    from ml_tasks.training.model_code import linear_design


class LinearClassifier(PythonModel):
    def load_context(self, context):
        with open(context.artifacts["metadata"]) as fh:
            self.meta = json.load(fh)
        self.columns = linear_design.columns(self.meta)

    def predict(self, context, model_input, params=None):
        missing = [c for c in self.columns if c not in model_input.columns]
        if missing:
            raise ValueError(f"model input lacks feature columns {missing}")
        return pd.Series(linear_design.probability(self.meta, model_input), index=model_input.index, name="prediction")

    def predict_rows(self, rows):
        """The same probabilities for rows given as dicts (the online path)."""
        frame = pd.DataFrame([{c: row.get(c) for c in self.columns} for row in rows], columns=self.columns)
        return linear_design.probability(self.meta, frame)


mlflow.models.set_model(LinearClassifier())
