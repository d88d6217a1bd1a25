"""A detect-secrets filter: a Helm value that names a Kubernetes Secret is no secret.

The chart takes every credential by reference (values.schema.json rejects plain-text fields;
tests/deploy/test_helm.py checks it), yet detect-secrets' keyword heuristic flags
``secretName: conveyor-s3``, ``secretAccessKeyKey: AWS_SECRET_ACCESS_KEY`` and the ``name:`` of
a ``secretRef:`` in an ``extraEnvFrom`` block. detect-secrets loads this file by its path
(``scan --filter file://...::is_kubernetes_secret_reference``) outside any package, so it
stays dependency-free.
"""

import re
from pathlib import Path

# A Kubernetes object name (DNS-1123 subdomain) or an environment-variable name.
REFERENCE_VALUE = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?|[A-Z_][A-Z0-9_]*"
# Chart keys whose value names a Secret (`secretName`, `fernetKeySecretName`, `sshKeySecret`)
# or a key inside one (`secretKey`, `secretAccessKeyKey`, `accessKeyIdKey`). Deliberately
# narrow: `jwtSecret` or `webserverSecretKey` hold the secret itself in the Airflow chart and
# stay reported.
REFERENCE_KEY = re.compile(r"^\s*(-\s*)?(secretName|secretKey|\w+SecretName|\w+KeySecret|\w+KeyKey|\w+IdKey)\s*:")


def is_kubernetes_secret_reference(filename: str, secret: str, plugin, line: str) -> bool:
    """True for a keyword finding in YAML under helm/ whose value only names a Secret or key."""
    path = Path(filename)
    if (
        type(plugin).__name__ != "KeywordDetector"
        or path.parts[:1] != ("helm",)
        or path.suffix not in (".yaml", ".yml")
    ):
        return False
    if REFERENCE_KEY.match(line):
        return re.fullmatch(REFERENCE_VALUE, secret.strip()) is not None
    secret_ref = re.fullmatch(rf"name:\s*({REFERENCE_VALUE})\s*", secret)
    return secret_ref is not None and "secretRef:" in line
