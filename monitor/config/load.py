"""feeds.yaml -> a validated, frozen Config, with every problem reported at its place in the file.

The reader builds plain data from the YAML nodes (``monitor.config.reader``); the data goes through
pydantic, and each validation error is mapped back to the nearest node (``monitor.config.validation``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from monitor.config.errors import ConfigError
from monitor.config.reader import YamlReader, compose
from monitor.config.schema import Config, duplicate_feeds
from monitor.config.validation import validation_problems
from monitor.watchlist.model import watchlist_problems


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> Config:
    """Read feeds.yaml, expand ``${VAR}`` references and validate it.

    Args:
        path: the YAML file.
        environ: where ``${VAR}`` references are looked up; ``os.environ`` when None.

    Returns:
        The frozen Config, with ``source`` set to ``path``.

    Raises:
        ConfigError: listing every problem found, each with its file, line and key.
    """
    path = Path(path)
    reader = YamlReader(str(path), os.environ if environ is None else environ)
    data = reader.read(compose(path))
    problems = reader.problems
    if not isinstance(data, dict):
        top = reader.problem((), "the top level must be a mapping of sections", "start with 'feeds:'")
        raise ConfigError([*problems, top])
    # Checked on the raw data too, so duplicates come with every other problem and with their line
    # (Config's own check runs only once everything else is valid, and knows no lines).
    if isinstance(data.get("feeds"), list):
        items = [item if isinstance(item, dict) else {} for item in data["feeds"]]
        names_and_urls = [(item.get("name"), item.get("url")) for item in items]
        for index, field, message in duplicate_feeds(names_and_urls):
            hint = f"give each feed its own {field}"
            problems.append(reader.problem(("feeds", index, field), message, hint))
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        problems += validation_problems(reader, error, Config, skip_reported=True)
    if problems:
        raise ConfigError(problems)
    config._source, config._from_env = path, frozenset(reader.from_env)
    config._env_names = dict(reader.env_names)
    config._env_templates = dict(reader.templates)
    if found := watchlist_problems(config, reader):  # queries and aliases, once the shape is right
        raise ConfigError(found)
    return config
