"""Putting the champion to work: batch scoring of a day, and the online prediction service.

Owns `batch` (score a feature partition with `@champion` into the predictions zone),
`holder` (the champion a server holds, swapped when the alias moves) and `online` (the
FastAPI app: validation, Prometheus metrics, the champion's version on every answer).
"""
