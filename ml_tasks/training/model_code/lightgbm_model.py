"""The pyfunc model MLflow stores for a LightGBM booster (models-from-code).

MLflow saves this file with the model and runs it when the model is loaded, so a registered
model needs only mlflow, pandas and lightgbm, not Conveyor itself. The booster and a small
metadata file (feature order, categorical columns and their categories) are model artifacts.
"""

import json

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel


class LightGBMForecaster(PythonModel):
    """Applies the training-time categorical encoding, then the booster."""

    def load_context(self, context):
        import lightgbm

        self.booster = lightgbm.Booster(model_file=context.artifacts["booster"])
        with open(context.artifacts["metadata"]) as fh:
            meta = json.load(fh)
        self.features = meta["features"]
        self.categories = meta["categories"]
        # Per feature: its category -> code table (categorical) or None (numeric), for predict_rows.
        self._codes = [{c: float(i) for i, c in enumerate(self.categories[f])} if f in self.categories else None
                       for f in self.features]

    def predict(self, context, model_input, params=None):
        missing = [c for c in self.features if c not in model_input.columns]
        if missing:
            raise ValueError(f"model input lacks feature columns {missing}")
        frame = model_input[self.features].copy()
        for col, cats in self.categories.items():
            frame[col] = pd.Categorical(frame[col].astype("string"), categories=cats)
        prediction = self.booster.predict(frame)
        return pd.Series(prediction.clip(min=0.0), index=model_input.index, name="prediction")

    def predict_rows(self, rows):
        """The same predictions for a few rows given as dicts, without pandas: the online path.

        Categories become their training-time codes (an unseen one, like a missing value, is NaN,
        as LightGBM treats an unknown pandas category), numbers go in as they are, and the booster
        runs on one thread: for a handful of rows, starting threads costs more than it saves.
        """
        matrix = np.array([[(codes.get(str(row[f]), np.nan) if row[f] is not None else np.nan)
                            if codes is not None else row[f] for f, codes in zip(self.features, self._codes)]
                           for row in rows], dtype=np.float64)
        return self.booster.predict(matrix, num_threads=1).clip(min=0.0)


mlflow.models.set_model(LightGBMForecaster())
