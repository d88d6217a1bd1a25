"""Training a challenger: the plan, each model family's fit, backtest and evaluation, the model card.

Owns `plan` (the time window and the parent MLflow run; `TrainingPlan`), `candidate` (one
family backtested, fit, evaluated and logged; `TrainedCandidate`), `trainers` (the LightGBM and
neural families behind one interface), `neural_net` (the neural family's LightningModule and its
fit) and `datamodule` (its streamed batches), `evaluation` (metrics, the naive baseline,
permutation importance), `plots`, `model_card` and `model_code` (the models-from-code files
stored with every model).
Registering the best candidate is the registry's job.
"""
