"""The repository's secret scan: detect-secrets' plugins over every file git tracks.

The scan runs the `detect-secrets scan` command (its JSON report is the stable, versioned
interface) on an explicit list of files, with network verification off. A line that carries
detect-secrets' own marker, ``# pragma: allowlist secret``, is a deliberate fake and is not
reported. The one other exception is secret_references.py, a detect-secrets filter for the Helm
values' names of Kubernetes Secrets.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Catches a key block whatever tool wrote it (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK).
PRIVATE_KEY_BLOCK = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
REFERENCE_FILTER = Path(__file__).with_name("secret_references.py").resolve()


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    type: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.type}"


@dataclass(frozen=True)
class ScanReport:
    findings: list[Finding]
    plugins: frozenset[str]


def tracked_files(repo: Path = REPO) -> list[str]:
    """Every regular file git tracks under `repo`, relative to it: what a fresh clone holds."""
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=repo, check=True, capture_output=True).stdout
    return [path for path in listing.decode().split("\0") if path and (repo / path).is_file()]


def scan(paths: list[str], cwd: Path = REPO) -> ScanReport:
    """Run detect-secrets' default plugins over `paths` (relative to `cwd`).

    detect-secrets reports each distinct value once per file and plugin, at its first line, so
    a finding may stand for more lines of the same file. Raises if the command fails: a scan
    that did not run must not read as a clean one.
    """
    if not paths:
        raise ValueError(f"nothing to scan under {cwd}")
    reference_filter = f"file://{REFERENCE_FILTER}::is_kubernetes_secret_reference"
    command = [sys.executable, "-m", "detect_secrets", "scan", "--no-verify", "--filter", reference_filter, *paths]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"detect-secrets scan failed (exit {result.returncode}) in {cwd}:\n{result.stderr[-4000:]}")
    report = json.loads(result.stdout)
    findings = sorted(
        Finding(path, secret["line_number"], secret["type"])
        for path, secrets in report["results"].items()
        for secret in secrets
    )
    return ScanReport(findings, frozenset(plugin["name"] for plugin in report["plugins_used"]))


def private_key_blocks(paths: list[str], root: Path = REPO) -> list[str]:
    """The files among `paths` that contain a private key block, allowlist pragma or not."""
    return [path for path in paths if PRIVATE_KEY_BLOCK.search((root / path).read_bytes())]
