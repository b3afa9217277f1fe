"""Reading an accounts file: YAML in, a validated :class:`AccountsFile` out, or one line
per fault naming the file, the line, the account and the field (with a guess for a
misspelt key). The schema itself is :mod:`leadsync.config.accounts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from leadsync.config.accounts import AccountsFile, unknown_key
from leadsync.errors import ConfigError

__all__ = ["load_accounts"]


def load_accounts(path: str | Path) -> AccountsFile:
    """Read and validate an accounts file; errors name the file, the account and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the accounts file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an accounts file is a mapping with an 'accounts' list")
    _anchor_secret_files(data, path.absolute().parent)
    try:
        return AccountsFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_problem(path, data, e, text) for e in exc.errors())) from None


def _anchor_secret_files(data: dict[str, Any], folder: Path) -> None:
    """Make each relative ``{file: …}`` credential (and ``salesforce.ca_file``) relative to
    the accounts file's folder.

    Not the current folder: the daemon and a cron job start elsewhere than the person who
    wrote the file, and the file and its secrets usually sit side by side.
    """
    for account in data.get("accounts") or []:
        options = account.get("salesforce") if isinstance(account, dict) else None
        if isinstance(options, dict) and isinstance(options.get("ca_file"), str):
            name = options["ca_file"]
            if not name.startswith("~") and not Path(name).is_absolute():
                options["ca_file"] = str(folder / name)
        credentials = account.get("credentials") if isinstance(account, dict) else None
        if not isinstance(credentials, dict):
            continue
        for ref in credentials.values():
            if isinstance(ref, dict) and isinstance(ref.get("file"), str):
                name = ref["file"]
                if not name.startswith("~") and not Path(name).is_absolute():
                    ref["file"] = str(folder / name)


def _line(text: str, loc: list[Any]) -> int | None:
    """The line of the deepest node of ``loc`` found in the YAML text (1-based)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        found = None
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            found = node.value[part] if part < len(node.value) else None
        if found is None:
            break
        node, line = found, found.start_mark.line + 1
    return line


def _problem(path: Path, data: dict[str, Any], error: Any, text: str = "") -> str:
    loc = list(error["loc"])
    line = _line(text, loc) if text else None
    where = f"{path}:{line}" if line else str(path)
    if len(loc) >= 2 and loc[0] == "accounts" and isinstance(loc[1], int):
        accounts = data.get("accounts") or []
        raw = accounts[loc[1]] if loc[1] < len(accounts) else {}
        name = raw.get("id") if isinstance(raw, dict) else None
        where += f": account {name!r}" if name else f": accounts[{loc[1]}]"
        loc = loc[2:]
    field = ".".join(str(part) for part in loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = unknown_key(str(error["loc"][-1]))
    return f"{where}: {field}: {message}" if field else f"{where}: {message}"
