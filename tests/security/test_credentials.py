"""No default credentials: every login and key is the user's own or freshly generated.

Compose and Helm take their secrets from .env and Kubernetes Secrets (tests/deploy checks the
rendered files). Here: no tracked file ships a well-known Airflow login or a default for a
secret variable, .env.example holds placeholders only, and the embedded stack generates its
admin password and signing keys per home, readable by their owner only, in a git-ignored
folder, with its services on loopback.
"""

from __future__ import annotations

import inspect
import re
import stat
import subprocess

from ml_tasks.core.settings import ConveyorSettings, load_settings
from ml_tasks.platform.cli import app as cli
from ml_tasks.platform.stack import environment
from tests.security.secret_scan import REPO, tracked_files

ALLOWLISTED = re.compile(r"pragma: ?allowlist[ -]secret")  # detect-secrets' marker of a deliberate fake
WELL_KNOWN = r"(admin|airflow|password|postgres|minioadmin|changeme|secret)"
DEFAULT_CREDENTIALS = {
    "the official compose file's admin login variable (its default is airflow/airflow)": re.compile(
        r"_AIRFLOW_WWW_USER_(PASSWORD|USERNAME)"
    ),
    "a default value for a secret variable": re.compile(r"\$\{\w*(PASSWORD|PASSWD|SECRET|TOKEN|FERNET)\w*:?-[^}]"),
    "a well-known password in a URL": re.compile(rf"://[^\s:/@'\"]+:{WELL_KNOWN}@"),
    "a well-known password for basic auth": re.compile(rf"(-u|--user)[ =]['\"]?[^\s:'\"]+:{WELL_KNOWN}(?![\w-])"),
    # (?!\s*[),]): `password=password)` passes a variable on, it sets nothing
    "a password set to a well-known value": re.compile(
        rf"(?i)pass(word|wd)?['\"]?\s*[:=]\s*['\"]?{WELL_KNOWN}(?![\w-])(?!\s*[),])"
    ),
    "a well-known --password": re.compile(rf"--password[ =]['\"]?{WELL_KNOWN}(?![\w-])"),
    "the simple auth manager's everyone-is-admin switch": re.compile(
        r"(?i)SIMPLE_AUTH_MANAGER_ALL_ADMINS\W*[:=]\W*true"
    ),
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$|_KEY_ID$|ROOT_USER")
PLACEHOLDER = "change-me"


def default_credentials(path: str, text: str) -> list[str]:
    return [
        f"{path}:{number}: {what}"
        for number, line in enumerate(text.splitlines(), 1)
        if not ALLOWLISTED.search(line)
        for what, pattern in DEFAULT_CREDENTIALS.items()
        if pattern.search(line)
    ]


def test_no_tracked_file_ships_a_default_login_or_secret_default():
    problems = []
    for path in tracked_files():
        data = (REPO / path).read_bytes()
        if b"\0" not in data[:8192]:  # text files only
            problems += default_credentials(path, data.decode(errors="replace"))
    assert problems == [], (
        "default credentials (mark a deliberate fake with `# pragma: allowlist secret`):\n" + "\n".join(problems)
    )


def test_default_login_check_catches_the_usual_defaults():
    samples = [
        "      _AIRFLOW_WWW_USER_PASSWORD: ${_AIRFLOW_WWW_USER_PASSWORD:-airflow}",  # pragma: allowlist secret
        "    AIRFLOW__API_AUTH__JWT_SECRET: ${JWT_SECRET:-insecure}",  # pragma: allowlist secret
        "sql_alchemy_conn = postgresql+psycopg2://airflow:airflow@postgres/airflow",  # pragma: allowlist secret
        "curl -u admin:admin http://127.0.0.1:8080/api/v2/dags",  # pragma: allowlist secret
        '{"username": "admin", "password": "admin"}',  # pragma: allowlist secret
        "airflow users create --username admin --password admin --role Admin",  # pragma: allowlist secret
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS: 'True'",  # pragma: allowlist secret
    ]
    assert [sample for sample in samples if not default_credentials("sample", sample)] == []
    # A user:role pair, a placeholder and a variable passed on are not credentials.
    assert default_credentials("sample", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin") == []
    assert default_credentials("sample", '-d \'{"username": "admin", "password": "<password>"}\'') == []
    assert default_credentials("sample", "client = AirflowClient(url, user, password=password)") == []


def test_env_example_holds_placeholders_only():
    lines = (REPO / ".env.example").read_text().splitlines()
    assignments = [
        (number, *match.groups())
        for number, line in enumerate(lines, 1)
        if (match := re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())) and SECRET_NAME.search(match[1])
    ]
    assert assignments, "no secret assignments found in .env.example"  # tests/deploy checks which ones
    assert [f".env.example:{n}: {name}={value}" for n, name, value in assignments if value != PLACEHOLDER] == []


def test_embedded_admin_password_is_generated_per_home_and_owner_only(tmp_path):
    first, second = load_settings(home=tmp_path / "first"), load_settings(home=tmp_path / "second")
    password = environment.airflow_password(first)
    assert password != environment.airflow_password(second)
    assert len(password) >= 12
    assert not re.fullmatch(WELL_KNOWN, password, re.I)
    assert environment.airflow_password(first) == password, "generated once, then kept"
    for settings in (first, second):
        assert stat.S_IMODE((settings.airflow_home / "passwords.json").stat().st_mode) == 0o600


def test_embedded_signing_keys_are_generated_per_home_and_owner_only(tmp_path):
    homes = [load_settings(home=tmp_path / name) for name in ("first", "second")]
    first, second = (environment.stack_env(settings) for settings in homes)
    for key in ("AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"):
        assert first[key] != second[key], key
        assert len(first[key]) >= 32, key
    for name in ("api_secret", "jwt_secret"):
        assert stat.S_IMODE((homes[0].airflow_home / name).stat().st_mode) == 0o600, name


def test_embedded_secrets_stay_out_of_git_and_the_image():
    default_home = ConveyorSettings.model_fields["home"].default.relative_to(REPO)
    for secret_file in ("airflow/passwords.json", "airflow/api_secret", "airflow/jwt_secret"):
        path = default_home / secret_file
        assert subprocess.run(["git", "check-ignore", "--quiet", str(path)], cwd=REPO).returncode == 0, path
    assert str(default_home) in (REPO / ".dockerignore").read_text().split(), (
        "the build context must leave out the home"
    )


def test_embedded_services_listen_on_loopback_by_default():
    fields = ConveyorSettings.model_fields
    assert fields["airflow_host"].default == fields["mlflow_host"].default == "127.0.0.1"
    assert inspect.signature(cli.serve).parameters["host"].default == "127.0.0.1"
