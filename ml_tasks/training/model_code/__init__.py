"""MLflow models-from-code definitions: each file is stored with the model it defines."""
