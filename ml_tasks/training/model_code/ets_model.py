"""The pyfunc model MLflow stores for the ``statsforecast`` family (models-from-code).

Exponential smoothing per series (statsforecast's ETS): the metadata holds each series' fitted form
and parameters and its training tail as JSON, and `ets_forecast.py` (stored beside this file as
code) rebuilds the state from them and from the rows' own lags at predict time. A row of a series
the model never saw takes its naive forecast. Needs mlflow, numpy, pandas and statsforecast.
"""

import json

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

try:  # as stored beside the model (code_paths)
    from ets_forecast import forecast
    from target_transform import first_present
except ImportError:
    from ml_tasks.training.model_code.ets_forecast import forecast
    from ml_tasks.training.model_code.target_transform import first_present


def ets_predict(meta: dict, frame: pd.DataFrame) -> np.ndarray:
    """The forecasts of ``frame``'s rows: ETS where the series is known, the naive forecast elsewhere."""
    naive = first_present(frame, meta["naive_columns"])
    return forecast(meta, frame, np.where(np.isnan(naive), meta["fill"], naive))


class ETSForecaster(PythonModel):
    def load_context(self, context):
        with open(context.artifacts["metadata"]) as fh:
            self.meta = json.load(fh)

    def predict(self, context, model_input, params=None):
        missing = [c for c in [self.meta["timestamp"], *self.meta["keys"]] if c not in model_input.columns]
        if missing:
            raise ValueError(
                f"model input lacks columns {missing} (the statsforecast family places each row "
                f"in its series by its keys and timestamp)"
            )
        return pd.Series(ets_predict(self.meta, model_input), index=model_input.index, name="prediction")


mlflow.models.set_model(ETSForecaster())
