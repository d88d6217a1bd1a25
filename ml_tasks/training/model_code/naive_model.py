"""The pyfunc model MLflow stores for a naive forecast (models-from-code).

A naive forecast repeats the target's value from one horizon or one seasonal period before, which
the feature rows carry as lag columns. The metadata names the columns in order of preference (the
best on the training days first); a row whose preferred lag is missing takes the next one, and a
row with none of them the training days' mean. Stored with `target_transform.py` (as code); needs
only mlflow, numpy and pandas.
"""

import json

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

try:
    from target_transform import first_present  # as stored beside the model (code_paths)
except ImportError:
    from ml_tasks.training.model_code.target_transform import first_present


def naive_forecast(frame: pd.DataFrame, columns: list[str], fill: float) -> np.ndarray:
    """The first present of ``columns`` per row, else ``fill``."""
    out = first_present(frame, columns)
    return np.where(np.isnan(out), fill, out)


class NaiveForecaster(PythonModel):
    def load_context(self, context):
        with open(context.artifacts["metadata"]) as fh:
            meta = json.load(fh)
        self.columns, self.fill = meta["columns"], float(meta["fill"])

    def predict(self, context, model_input, params=None):
        missing = [c for c in self.columns if c not in model_input.columns]
        if missing:
            raise ValueError(f"model input lacks feature columns {missing}")
        return pd.Series(
            naive_forecast(model_input, self.columns, self.fill), index=model_input.index, name="prediction"
        )

    def predict_rows(self, rows):
        """The same forecasts for rows given as dicts (the online path)."""
        frame = pd.DataFrame([{c: row.get(c) for c in self.columns} for row in rows], columns=self.columns)
        return naive_forecast(frame, self.columns, self.fill)


mlflow.models.set_model(NaiveForecaster())
