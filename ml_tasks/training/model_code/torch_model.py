"""The pyfunc model MLflow stores for the neural forecaster (models-from-code).

Stored with `tabular_net.py` and `target_transform.py` (as code) plus the weights and a metadata
file (feature lists, key vocabularies, network sizes, the target transform), so a registered model
needs only mlflow, pandas and torch.
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


class TorchForecaster(PythonModel):
    def load_context(self, context):
        import torch

        try:
            from tabular_net import TabularNet  # as stored beside the model (code_paths)
        except ImportError:
            from ml_tasks.training.model_code.tabular_net import TabularNet

        with open(context.artifacts["metadata"]) as fh:
            self.meta = json.load(fh)
        net = self.meta["net"]
        self.net = TabularNet(
            net["cardinalities"], net["n_numeric"], net["embedding_dim"], tuple(net["hidden"]), net["dropout"]
        )
        self.net.load_state_dict(torch.load(context.artifacts["weights"], map_location="cpu"))
        self.net.eval()
        # Category -> index tables (0 is "unknown", as in predict), for predict_rows.
        self._codes = {c: {v: i + 1 for i, v in enumerate(self.meta["vocab"][c])} for c in self.meta["categorical"]}
        self.transform = self.meta.get("transform") or tt.NONE  # versions logged before transforms: none

    def predict(self, context, model_input, params=None):
        import torch

        missing = [c for c in self.meta["features"] if c not in model_input.columns]
        if missing:
            raise ValueError(f"model input lacks feature columns {missing}")
        original, model_input = model_input, tt.transform_frame(model_input, self.transform)
        cats = (
            np.stack(
                [
                    pd.Categorical(model_input[c].astype("string"), categories=self.meta["vocab"][c]).codes.astype(
                        np.int64
                    )
                    + 1
                    for c in self.meta["categorical"]
                ],
                axis=1,
            )
            if self.meta["categorical"]
            else np.zeros((len(model_input), 0), np.int64)
        )
        nums = model_input[self.meta["numeric"]].to_numpy(dtype=np.float32, na_value=np.nan)
        with torch.no_grad():
            output = self.net(torch.from_numpy(cats), torch.from_numpy(nums))
        prediction = tt.invert(original, self._link(output), self.transform)
        return pd.Series(prediction, index=original.index, name="prediction")

    def _link(self, output):
        import torch

        # "log": expected counts (Poisson); "logit": probability of the positive class.
        return (torch.sigmoid(output) if self.meta.get("link") == "logit" else output.exp()).numpy()

    def predict_rows(self, rows):
        """The same predictions for a few rows given as dicts, without pandas: the online path."""
        import torch

        original, rows = rows, tt.transform_rows(rows, self.transform)
        cats = np.array(
            [
                [self._codes[c].get(str(row[c]), 0) if row[c] is not None else 0 for c in self.meta["categorical"]]
                for row in rows
            ],
            dtype=np.int64,
        ).reshape(len(rows), -1)
        nums = np.array([[row[c] for c in self.meta["numeric"]] for row in rows], dtype=np.float32)
        with torch.no_grad():
            output = self.net(torch.from_numpy(cats), torch.from_numpy(nums))
        return tt.invert_rows(original, self._link(output).astype(np.float64), self.transform)


mlflow.models.set_model(TorchForecaster())
