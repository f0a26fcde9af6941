"""Where the API server is and how we authenticate to it, turned into an HTTP connection pool.

We reuse lightkube's public config layer instead of writing a kubeconfig parser: `KubeConfig`
reads kubeconfig files and in-cluster service account files, and `ConnectionParams` turns one
selected context into httpx2 client arguments (base URL, TLS context with client certificate,
bearer / token-file / exec auth). We add what lightkube does not set: the pool size, timeouts
and our User-Agent. Nothing here sends a request.

`$KUBECONFIG` may hold a colon-separated list; unlike kubectl we do not merge files, we take
the first one that exists. Configuration problems raise `ConfigError` (not retryable), one
sentence that names the file and what is wrong with it: missing, empty, not YAML (with the line
and column), not a kubeconfig, or a context that is absent or names an undefined cluster/user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import msgspec
import yaml
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import KubeConfig
from lightkube.core.exceptions import ConfigError as _LightkubeConfigError

import meshtool
from meshtool.kube import errors, http1
from meshtool.kube.authheader import AuthHeader

DEFAULT_KUBECONFIG = "~/.kube/config"
USER_AGENT = f"meshtool/{meshtool.__version__}"


class ConfigError(errors.KubeError):
    """The kubeconfig or in-cluster configuration is unusable; retrying will not help."""


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """HTTP pool settings. Watches hold a connection each, hence room above `concurrency`."""

    concurrency: int = 64
    """Concurrent ordinary requests we expect (worker count); all get a kept-alive connection."""
    watch_connections: int = 32
    request_timeout: float = 30.0
    connect_timeout: float = 10.0

    @property
    def limits(self) -> httpx2.Limits:
        return httpx2.Limits(
            max_connections=self.concurrency + self.watch_connections,
            max_keepalive_connections=self.concurrency,
        )

    @property
    def timeout(self) -> httpx2.Timeout:
        return httpx2.Timeout(self.request_timeout, connect=self.connect_timeout)

    @property
    def watch_timeout(self) -> httpx2.Timeout:
        """No read timeout: a quiet watch is not a dead one (the server ends it itself)."""
        return httpx2.Timeout(self.request_timeout, connect=self.connect_timeout, read=None)


def kubeconfig_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The kubeconfig file to use: `path`, else the first existing `$KUBECONFIG` entry, else ~."""
    if path is not None:
        return Path(path).expanduser()
    entries = [e for e in os.environ.get("KUBECONFIG", "").split(os.pathsep) if e]
    for entry in entries:
        if Path(entry).expanduser().is_file():
            return Path(entry).expanduser()
    return Path(entries[0] if entries else DEFAULT_KUBECONFIG).expanduser()


def from_kubeconfig(path: str | os.PathLike[str] | None, context: str | None) -> Any:
    """The lightkube `SingleConfig` for `context` (default: current-context) of a kubeconfig."""
    file = kubeconfig_path(path)
    return select(load(file), file, context)


def load(file: Path) -> KubeConfig:
    """The kubeconfig in `file`, checked enough that selecting a context cannot crash."""
    data = _yaml(file)
    if data is None:
        raise ConfigError(f"kubeconfig {file} is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"kubeconfig {file} is not a kubeconfig (not a YAML mapping)")
    for key in ("clusters", "contexts", "users"):
        if not isinstance(data.get(key) or [], list):
            raise ConfigError(f"kubeconfig {file}: {key} is not a list")
    try:
        return KubeConfig.from_dict({"clusters": [], "contexts": [], **data}, fname=file)
    except (KeyError, TypeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"kubeconfig {file} is malformed: {_missing(exc)}") from exc


def _yaml(file: Path) -> Any:
    try:
        return yaml.safe_load(file.read_bytes())
    except OSError as exc:
        raise ConfigError(f"kubeconfig {file}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "unreadable"
        raise ConfigError(f"kubeconfig {file} is not valid YAML{at}: {problem}") from exc


def _missing(exc: Exception) -> str:
    return f"an entry has no {exc}" if isinstance(exc, KeyError) else str(exc)


def select(kubeconfig: KubeConfig, file: Path, context: str | None) -> Any:
    """The `SingleConfig` of `context` (default: current-context), or why there is none."""
    name = context or kubeconfig.current_context
    known = ", ".join(sorted(kubeconfig.contexts)) or "none"
    if not name:
        raise ConfigError(f"kubeconfig {file} has no current-context (contexts: {known})")
    found = kubeconfig.contexts.get(name)
    if found is None:
        raise ConfigError(f"kubeconfig {file} has no context {name!r} (contexts: {known})")
    if found.cluster not in kubeconfig.clusters:
        raise ConfigError(
            f"kubeconfig {file}: context {name!r} names unknown cluster {found.cluster!r}"
        )
    if found.user and found.user not in kubeconfig.users:
        raise ConfigError(f"kubeconfig {file}: context {name!r} names unknown user {found.user!r}")
    return kubeconfig.get(name)


def in_cluster() -> Any:
    """The `SingleConfig` of the pod's service account (token file re-read on rotation)."""
    try:
        return KubeConfig.from_service_account().get()
    except (_LightkubeConfigError, KeyError) as exc:
        raise ConfigError(f"in-cluster config: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Connection:
    """Both request paths to one apiserver, with the same TLS context and credentials: httpx2
    (the health probe) and the lean HTTP/1.1 pool (every request and watch)."""

    http: httpx2.AsyncClient
    lean: http1.Pool
    auth: AuthHeader


def connection(single_config: Any, pool: PoolSettings) -> Connection:
    """Base URL, TLS context and auth from lightkube; pool limits and timeouts from us."""
    try:
        params = ConnectionParams(timeout=pool.timeout).httpx_params(single_config)
    except (_LightkubeConfigError, OSError, AssertionError) as exc:
        raise ConfigError(f"cluster {single_config.cluster.server}: {exc}") from exc
    http = httpx2.AsyncClient(
        **params, limits=pool.limits, headers={"User-Agent": USER_AGENT}, follow_redirects=False
    )
    lean = http1.Pool(
        params["base_url"],
        params["verify"],
        max_connections=pool.concurrency,
        timeout=pool.request_timeout,
        connect_timeout=pool.connect_timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )
    return Connection(http, lean, AuthHeader(params["auth"], params["base_url"]))


def describe(path: str | os.PathLike[str] | None, context: str | None) -> str:
    """Which context and cluster a kubeconfig selects, for messages: `context "x" (https://..)`."""
    single = from_kubeconfig(path, context)
    cluster = f'cluster "{single.context.cluster}", {single.cluster.server}'
    return f'context "{single.context_name}" ({cluster})'
