"""MLflow's basic-auth app for Conveyor: its config file, and one user per client.

One file for both deployments: docker-compose.yaml bind-mounts it, the Helm chart ships it in a
ConfigMap (templates/mlflow-auth-configmap.yaml). Standard library only, so it runs in any
Python 3 image.

    python mlflow_auth.py exec-with-config -- mlflow server --app-name basic-auth ...
        Writes the auth app's config file to $MLFLOW_AUTH_CONFIG_PATH from the environment, then
        replaces itself with the command. The file holds the auth database URI (which may carry
        a password), so it is written 0600 and never baked into an image or a ConfigMap.
        MLFLOW_AUTH_DATABASE_URI          SQLAlchemy URI of the users/permissions database
        MLFLOW_AUTH_DEFAULT_PERMISSION    what every signed-in user may do by default (READ)
        MLFLOW_AUTH_ADMIN_USERNAME        the admin MLflow creates on first start; its password
                                          comes from MLFLOW_AUTH_ADMIN_PASSWORD, read by MLflow

    python mlflow_auth.py users
        Signs in as the admin (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD) at
        MLFLOW_TRACKING_URI and makes sure each client in CONVEYOR_MLFLOW_CLIENTS (comma-separated
        names) exists, non-admin, with the password CONVEYOR_MLFLOW_<NAME>_PASSWORD; the user name
        is CONVEYOR_MLFLOW_<NAME>_USERNAME. An existing user gets its password reset to that value,
        so changing a password in .env or in its Secret and re-running rotates it.
"""

from __future__ import annotations

import base64
import configparser
import json
import os
import sys
import time
import urllib.error
import urllib.request

PLACEHOLDER = "change-me"
PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")


def _fail(message: str) -> None:
    print(f"mlflow-auth: {message}", file=sys.stderr)
    raise SystemExit(1)


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        _fail(f"{name} is not set")
    return value


def write_config(path: str) -> None:
    permission = os.environ.get("MLFLOW_AUTH_DEFAULT_PERMISSION", "READ")
    if permission not in PERMISSIONS:
        _fail(f"MLFLOW_AUTH_DEFAULT_PERMISSION must be one of {', '.join(PERMISSIONS)}, not {permission!r}")
    settings = {
        "default_permission": permission,
        "database_uri": _env("MLFLOW_AUTH_DATABASE_URI"),
        "admin_username": _env("MLFLOW_AUTH_ADMIN_USERNAME"),
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        "grant_default_workspace_access": "false",
    }
    # MLflow reads the file with configparser's default interpolation: a literal % (URL-encoded
    # characters in a database password) must be written as %%.
    parser = configparser.ConfigParser(interpolation=None)
    parser["mlflow"] = {key: value.replace("%", "%%") for key, value in settings.items()}
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        parser.write(handle)


def _request(method: str, url: str, auth: tuple[str, str], body: dict | None = None) -> tuple[int, dict]:
    headers = {"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    try:
        payload = json.loads(text) if text else {}
    except ValueError:
        payload = {"message": text}
    return status, payload


def _wait_until_healthy(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            _fail(f"{base}/health did not answer within {timeout:.0f} s")
        time.sleep(2)


def ensure_users() -> list[str]:
    base = _env("MLFLOW_TRACKING_URI").rstrip("/")
    admin = (_env("MLFLOW_TRACKING_USERNAME"), _env("MLFLOW_TRACKING_PASSWORD"))
    clients = [c.strip() for c in _env("CONVEYOR_MLFLOW_CLIENTS").split(",") if c.strip()]
    wanted = []
    for client in clients:
        prefix = f"CONVEYOR_MLFLOW_{client.upper()}"
        username, password = _env(f"{prefix}_USERNAME"), _env(f"{prefix}_PASSWORD")
        if PLACEHOLDER in password or PLACEHOLDER in admin[1]:
            _fail(f"{prefix}_PASSWORD or the admin password still holds the {PLACEHOLDER} placeholder")
        if username == admin[0]:
            _fail(f"{prefix}_USERNAME must not be the admin user {admin[0]!r}")
        wanted.append((username, password))
    if len({name for name, _ in wanted}) != len(wanted):
        _fail("every client needs its own user name")

    _wait_until_healthy(base, float(os.environ.get("CONVEYOR_MLFLOW_WAIT_SECONDS", "300")))
    done = []
    for username, password in wanted:
        status, payload = _request("POST", f"{base}/api/2.0/mlflow/users/create", admin,
                                   {"username": username, "password": password})  # pragma: allowlist secret
        if status == 200:
            done.append(f"created {username}")
            continue
        if payload.get("error_code") != "RESOURCE_ALREADY_EXISTS":
            _fail(f"creating {username}: HTTP {status} {payload}")
        status, payload = _request("PATCH", f"{base}/api/2.0/mlflow/users/update-password", admin,
                                   {"username": username, "password": password})  # pragma: allowlist secret
        if status != 200:
            _fail(f"setting the password of {username}: HTTP {status} {payload}")
        status, payload = _request("PATCH", f"{base}/api/2.0/mlflow/users/update-admin", admin,
                                   {"username": username, "is_admin": False})
        if status != 200:
            _fail(f"making {username} a non-admin: HTTP {status} {payload}")
        done.append(f"updated {username}")
    return done


def main(argv: list[str]) -> None:
    if argv[:1] == ["exec-with-config"]:
        command = argv[1:]
        if command[:1] == ["--"]:
            command = command[1:]
        if not command:
            _fail("exec-with-config needs a command after --")
        write_config(_env("MLFLOW_AUTH_CONFIG_PATH"))
        os.execvp(command[0], command)
    elif argv == ["users"]:
        for line in ensure_users():
            print(f"mlflow-auth: {line}")
    else:
        _fail("usage: mlflow_auth.py exec-with-config -- COMMAND... | mlflow_auth.py users")


if __name__ == "__main__":
    main(sys.argv[1:])
