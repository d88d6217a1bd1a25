"""No secret in the repository: detect-secrets over every tracked file, as CI's fresh clone holds it.

A deliberate fake (a password that proves a detector works, a placeholder a test compares
against) is marked on its own line with detect-secrets' convention, ``# pragma: allowlist
secret``; any other finding fails with file:line: type. The planted-secret tests prove the
scan reports what it should, so a broken scan cannot pass as a clean one.
"""

from __future__ import annotations

import random
import string
import subprocess
from pathlib import Path

import pytest

from tests.security.secret_scan import REPO, private_key_blocks, scan, tracked_files

# Built at run time so that this file holds no key for the scan to find.
KEY_HEADER = "-----BEGIN " + "RSA PRIVATE KEY-----"
KEY_FOOTER = "-----END " + "RSA PRIVATE KEY-----"
# Plugins this check relies on; an upgrade of detect-secrets that dropped one must fail here.
REQUIRED_PLUGINS = {
    "PrivateKeyDetector",
    "AWSKeyDetector",
    "KeywordDetector",
    "BasicAuthDetector",
    "Base64HighEntropyString",
    "HexHighEntropyString",
    "GitHubTokenDetector",
}


def aws_access_key_id() -> str:
    return "AKIA" + "".join(random.choices(string.ascii_uppercase + string.digits, k=16))


@pytest.fixture
def planted_repo(tmp_path):
    """A small git repository with one real-looking secret of each kind and two allowed lines."""
    (tmp_path / "deploy.py").write_text(
        f'DEPLOY_KEY = """{KEY_HEADER}\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n{KEY_FOOTER}\n"""\n'
        f'S3_KEY_ID = "{aws_access_key_id()}"\n'
        'db_password = "hunter2"\n'  # pragma: allowlist secret
        'test_password = "hunter2-but-fake"  # pragma: allowlist secret\n'
    )
    chart = tmp_path / "helm" / "chart"
    chart.mkdir(parents=True)
    (chart / "values.yaml").write_text(
        "s3:\n  secretName: acme-s3\ndb:\n  password: hunter3\n"  # pragma: allowlist secret
    )
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    return tmp_path


def test_no_tracked_file_holds_a_secret():
    report = scan(tracked_files())
    assert REQUIRED_PLUGINS <= report.plugins, f"detect-secrets ran without {REQUIRED_PLUGINS - report.plugins}"
    findings = [str(finding) for finding in report.findings]
    assert not findings, (
        "possible secrets in tracked files (detect-secrets reports a value once per file, at its first line):\n"
        + "\n".join(f"  {finding}" for finding in findings)
        + "\nRemove and rotate a real one. Mark a deliberate fake with `# pragma: allowlist secret` on its line."
    )


def test_scan_reports_planted_secrets_and_honours_the_allowlist_pragma(planted_repo):
    findings = scan(tracked_files(planted_repo), cwd=planted_repo).findings
    found = {(finding.path, finding.line, finding.type) for finding in findings}
    assert ("deploy.py", 1, "Private Key") in found
    assert ("deploy.py", 5, "AWS Access Key") in found
    assert ("deploy.py", 6, "Secret Keyword") in found
    assert not [finding for finding in findings if finding.path == "deploy.py" and finding.line == 7]


def test_helm_secret_references_pass_but_a_password_in_helm_values_does_not(planted_repo):
    helm_findings = [
        f for f in scan(tracked_files(planted_repo), cwd=planted_repo).findings if f.path.startswith("helm/")
    ]
    assert [(f.path, f.line, f.type) for f in helm_findings] == [("helm/chart/values.yaml", 4, "Secret Keyword")]


def test_no_tracked_file_contains_a_private_key_block():
    assert private_key_blocks(tracked_files()) == []


def test_private_key_check_finds_a_planted_key(planted_repo):
    assert private_key_blocks(tracked_files(planted_repo), root=planted_repo) == ["deploy.py"]


def test_dotenv_is_ignored_by_git_and_docker_and_no_env_file_is_tracked():
    ignored = subprocess.run(["git", "check-ignore", "--quiet", ".env"], cwd=REPO)
    assert ignored.returncode == 0, ".gitignore must ignore .env: it holds the compose deployment's secrets"
    assert ".env" in (REPO / ".dockerignore").read_text().split(), ".env must stay out of the image build context"
    env_files = [
        path
        for path in tracked_files()
        if Path(path).name == ".env" or (Path(path).name.startswith(".env.") and Path(path).name != ".env.example")
    ]
    assert env_files == [], (
        f"tracked environment files (only .env.example, with placeholders, belongs in git): {env_files}"
    )
