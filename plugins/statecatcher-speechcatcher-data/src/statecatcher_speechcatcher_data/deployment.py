"""An existing speechcatcher-data deployment's ``config.yaml`` (``--data-opt config=path/to/config.yaml``).

speechcatcher-data's ``config.yaml.sample`` holds the database settings too; the client reads three keys and
ignores the rest: ``server_api_url`` (the base URL, usually ending in ``/apiv1/``), ``secret_api_key`` and
``podcast_language``.  Options given on the command line win over the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DeploymentConfig:
    """The client's settings from a speechcatcher-data config file; ``None`` where the file has none."""

    server_api_url: str | None = None
    secret_api_key: str | None = None
    podcast_language: str | None = None


def read_deployment_config(path: str | Path) -> DeploymentConfig:
    """Reads ``path`` (YAML); raises ``ValueError`` naming the file and the problem."""
    import yaml

    where = f"speechcatcher data source: config file {path}"
    try:
        document = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{where}: cannot read it ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{where}: not YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{where}: expected a mapping of keys (server_api_url, secret_api_key, podcast_language), "
                         f"got {type(document).__name__}")
    values = {}
    for key in ("server_api_url", "secret_api_key", "podcast_language"):
        value = document.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{where}: {key} must be a string, got {type(value).__name__}")
        values[key] = value or None
    return DeploymentConfig(**values)
