"""The pyfunc model MLflow stores for a LightGBM booster (models-from-code).

MLflow saves this file with the model and runs it when the model is loaded, so a registered
model needs only mlflow, pandas and lightgbm, not Conveyor itself. The booster and a small
metadata file (feature order, categorical columns and their categories) are model artifacts.
"""

import json

import mlflow
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

    def predict(self, context, model_input, params=None):
        missing = [c for c in self.features if c not in model_input.columns]
        if missing:
            raise ValueError(f"model input lacks feature columns {missing}")
        frame = model_input[self.features].copy()
        for col, cats in self.categories.items():
            frame[col] = pd.Categorical(frame[col].astype("string"), categories=cats)
        prediction = self.booster.predict(frame)
        return pd.Series(prediction.clip(min=0.0), index=model_input.index, name="prediction")


mlflow.models.set_model(LightGBMForecaster())
