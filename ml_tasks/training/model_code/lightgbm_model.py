"""The pyfunc model MLflow stores for a LightGBM booster (models-from-code).

MLflow saves this file with the model and runs it when the model is loaded, so a registered
model needs only mlflow, pandas and lightgbm, not Conveyor itself. The booster and a small
metadata file (feature order, categorical columns and their categories, the target transform and
the floor of the forecasts) are model artifacts; `target_transform.py` is stored with it as code.
"""

import json

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

try:
    import target_transform as tt  # as stored beside the model (code_paths)
except ImportError:
    from ml_tasks.training.model_code import target_transform as tt


class LightGBMForecaster(PythonModel):
    """Applies the training-time categorical encoding, then the booster."""

    def load_context(self, context):
        import lightgbm

        self.booster = lightgbm.Booster(model_file=context.artifacts["booster"])
        with open(context.artifacts["metadata"]) as fh:
            meta = json.load(fh)
        self.features = meta["features"]
        self.categories = meta["categories"]
        # Versions logged before target transforms: no transform, forecasts floored at zero.
        self.transform = meta.get("transform") or tt.NONE
        self.clip_min = meta.get("clip_min", 0.0)
        # Per feature: its category -> code table (categorical) or None (numeric), for predict_rows.
        self._codes = [
            {c: float(i) for i, c in enumerate(self.categories[f])} if f in self.categories else None
            for f in self.features
        ]

    def predict(self, context, model_input, params=None):
        missing = [c for c in self.features if c not in model_input.columns]
        if missing:
            raise ValueError(f"model input lacks feature columns {missing}")
        frame = tt.transform_frame(model_input[self.features], self.transform).copy()
        for col, cats in self.categories.items():
            frame[col] = pd.Categorical(frame[col].astype("string"), categories=cats)
        prediction = self._floor(tt.invert(model_input, self.booster.predict(frame), self.transform))
        return pd.Series(prediction, index=model_input.index, name="prediction")

    def _floor(self, prediction):
        return prediction if self.clip_min is None else prediction.clip(min=self.clip_min)

    def predict_rows(self, rows):
        """The same predictions for a few rows given as dicts, without pandas: the online path.

        Categories become their training-time codes (an unseen one, like a missing value, is NaN,
        as LightGBM treats an unknown pandas category), numbers go in as they are, and the booster
        runs on one thread: for a handful of rows, starting threads costs more than it saves.
        """
        inputs = tt.transform_rows(rows, self.transform)
        matrix = np.array(
            [
                [
                    (codes.get(str(row[f]), np.nan) if row[f] is not None else np.nan) if codes is not None else row[f]
                    for f, codes in zip(self.features, self._codes, strict=True)
                ]
                for row in inputs
            ],
            dtype=np.float64,
        )
        return self._floor(tt.invert_rows(rows, self.booster.predict(matrix, num_threads=1), self.transform))


mlflow.models.set_model(LightGBMForecaster())
