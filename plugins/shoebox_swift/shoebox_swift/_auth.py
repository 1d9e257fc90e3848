"""How a :class:`~shoebox_swift.SwiftFileSystem` logs in: explicit options, else the environment.

The environment variables are the ones an OpenStack ``openrc`` file or the ``swift`` command line
tool use, so a shell that can run ``swift list`` can run shoebox:

* v1 auth (tempauth, swauth, many hosted Swifts): ``ST_AUTH``, ``ST_USER``, ``ST_KEY``;
* Keystone: ``OS_AUTH_URL``, ``OS_USERNAME``, ``OS_PASSWORD``, ``OS_PROJECT_NAME`` (or
  ``OS_PROJECT_ID``), ``OS_USER_DOMAIN_NAME``, ``OS_PROJECT_DOMAIN_NAME`` (or their ``_ID``),
  ``OS_REGION_NAME``, ``OS_INTERFACE``, ``OS_IDENTITY_API_VERSION``, ``OS_CACERT``;
* a token obtained elsewhere: ``OS_STORAGE_URL`` and ``OS_AUTH_TOKEN``.

An option given explicitly always wins over the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["connection_options"]

# os_options keys swiftclient understands, and the environment variable each comes from.
_OS_OPTION_ENV = {
    "project_name": "OS_PROJECT_NAME",
    "project_id": "OS_PROJECT_ID",
    "tenant_name": "OS_TENANT_NAME",
    "tenant_id": "OS_TENANT_ID",
    "user_id": "OS_USER_ID",
    "user_domain_name": "OS_USER_DOMAIN_NAME",
    "user_domain_id": "OS_USER_DOMAIN_ID",
    "project_domain_name": "OS_PROJECT_DOMAIN_NAME",
    "project_domain_id": "OS_PROJECT_DOMAIN_ID",
    "region_name": "OS_REGION_NAME",
    "endpoint_type": "OS_INTERFACE",
    "service_type": "OS_SERVICE_TYPE",
}

_V1 = ("1", "1.0")


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def connection_options(
    *,
    auth_url: str | None,
    user: str | None,
    key: str | None,
    auth_version: str | int | None,
    os_options: Mapping[str, Any] | None,
    storage_url: str | None,
    token: str | None,
    verify: bool | str,
    cacert: str | None,
    cert: str | None,
    cert_key: str | None,
    retries: int,
    starting_backoff: float,
    max_backoff: float,
    timeout: Any,
    use_env: bool,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The keyword arguments of :class:`swiftclient.client.Connection` for these options.

    Raises ``ValueError`` when there is neither a way to log in nor a ready token.
    """
    env = (os.environ if env is None else env) if use_env else {}
    options = {k: v for k, v in (os_options or {}).items() if v not in (None, "")}
    # With the URL from OS_AUTH_URL (an openrc file), OS_USERNAME / OS_PASSWORD come first;
    # otherwise the swift tool's ST_USER / ST_KEY do.
    keystone_env = auth_url is None and bool(env.get("OS_AUTH_URL"))
    order = ("OS_", "ST_") if keystone_env else ("ST_", "OS_")
    if auth_url is None:
        auth_url = _first(env, "OS_AUTH_URL", "ST_AUTH")
    if user is None:
        user = _first(env, *(p + ("USERNAME" if p == "OS_" else "USER") for p in order))
    if key is None:
        key = _first(env, *(p + ("PASSWORD" if p == "OS_" else "KEY") for p in order))
    if auth_version is None:
        auth_version = _first(env, "OS_IDENTITY_API_VERSION", "OS_AUTH_VERSION", "ST_AUTH_VERSION")
    if auth_version is None:
        auth_version = "3" if keystone_env else "1"
    auth_version = str(auth_version)
    if auth_version not in _V1:
        for option, variable in _OS_OPTION_ENV.items():
            if option not in options and env.get(variable):
                options[option] = env[variable]
    if storage_url is None and token is None:
        storage_url = _first(env, "OS_STORAGE_URL")
        token = _first(env, "OS_AUTH_TOKEN")
    if cacert is None and isinstance(verify, str):
        cacert = verify
    if cacert is None:
        cacert = _first(env, "OS_CACERT")
    has_login = bool(auth_url and user and key)
    if not has_login and not (storage_url and token):
        raise ValueError(
            "SwiftFileSystem needs credentials: auth_url, user and key (v1 or Keystone), or "
            "storage_url and token; or the environment variables ST_AUTH/ST_USER/ST_KEY, "
            "OS_AUTH_URL/OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME, or OS_STORAGE_URL/OS_AUTH_TOKEN"
        )
    return {
        "authurl": auth_url if has_login else None,
        "user": user if has_login else None,
        "key": key if has_login else None,
        "auth_version": auth_version,
        "os_options": options,
        "preauthurl": storage_url,
        "preauthtoken": token,
        "cacert": cacert,
        "insecure": verify is False,
        "cert": cert,
        "cert_key": cert_key,
        "retries": retries,
        "starting_backoff": starting_backoff,
        "max_backoff": max_backoff,
        "timeout": timeout,
    }
