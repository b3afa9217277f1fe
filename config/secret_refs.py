"""Secrets the accounts file refers to: where each lives, and reading it safely.

A credential in the accounts file is never the secret itself but a reference: an
environment variable's name or a file. :meth:`SecretRef.resolve` reads it when a run
starts and checks it before anything can send or print it; every fault is one
:class:`ConfigError` naming the account, the field and the variable or file, never the
value. The rules (and why a world-readable file is a warning) are in ``docs/accounts.md``.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    ValidationInfo,
    model_validator,
)

from leadsync.errors import ConfigError

__all__ = ["MAX_SECRET_BYTES", "SecretField", "SecretRef", "check_secret", "read_secret_file"]


class SecretRef(BaseModel):
    """Where a secret lives: an environment variable or a file (its whole content).

    A relative ``file`` is relative to the accounts file's folder (:func:`load_accounts`
    makes it absolute). What is read is checked before it is used (:func:`check_secret`):
    a secret is never printed, so a stray line break or space must be refused here, not
    sent in a header and quoted back in a traceback.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    @property
    def source(self) -> str:
        """Where the secret comes from, for messages: the variable's name or the file's path."""
        if self.env is not None:
            return f"the environment variable {self.env}"
        return f"the secrets file {self.file}"

    def resolve(self, what: str, *, multiline: bool = False) -> SecretStr:
        """Read the secret now; any fault is a :class:`ConfigError` that never quotes it.

        ``what`` names the account and field (``HubSpot account 'acme': credentials.token``).
        A file's one final line break is not part of the secret. ``multiline``: line breaks
        inside are allowed (a PEM private key).
        """
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError(f"{what}: the environment variable {self.env} is not set")
        else:
            assert self.file is not None
            value = read_secret_file(self.file, what)
            value = value[:-1] if value.endswith("\n") else value
            if not value:
                raise ConfigError(f"{what}: the secrets file {self.file} is empty")
        check_secret(value, what=what, source=self.source, multiline=multiline)
        return SecretStr(value)


#: Largest secrets file read: a token or a PEM key is a few kB; anything bigger is a mistake.
MAX_SECRET_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_warned: set[Path] = set()
log = logging.getLogger(__name__)


def check_secret(value: str, *, what: str, source: str, multiline: bool = False) -> None:
    """Refuse a secret with surrounding whitespace or control characters, without echoing it.

    Such a value is a copy-and-paste slip (a trailing newline from ``echo``, a CR from a
    Windows editor, two lines of a file): sent as is it breaks the request or, worse, the
    HTTP library quotes the header holding it in its exception.
    """
    problem = None
    if value != value.strip():
        problem = "begins or ends with whitespace (a space, tab or line break)"
    elif (_CONTROL_BUT_LINES if multiline else _CONTROL).search(value):
        kind = "a control character" if multiline else "a line break or another control character"
        problem = f"contains {kind}"
    if problem:
        raise ConfigError(
            f"{what}: the secret in {source} {problem}, so leadsync will not use it. "
            f"Put the secret alone in it{'' if multiline else ', on one line'}, with nothing "
            "around it (the value is not shown here)."
        )


def read_secret_file(path: Path, what: str) -> str:
    """A secrets file's whole text: a regular file only, never quoted in a message.

    A FIFO, a device or a folder is refused (``/dev/stdin`` would block, ``/dev/zero``
    never ends); so is a file bigger than :data:`MAX_SECRET_BYTES` or not UTF-8. A file
    every user may read draws a warning, once per file, unless it lies in the secrets
    folder (``LEADSYNC_SECRETS_DIR``, ``/run/secrets``), whose mount controls access.
    """
    shown = path
    path = path.expanduser()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read a secret from {shown} ({exc.strerror})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
            raise ConfigError(
                f"{what}: {shown} is {kind}, not a regular file; a secrets file must be a "
                "file that holds only the secret"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read a secret from {shown} ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_BYTES:
        raise ConfigError(
            f"{what}: {shown} is larger than {MAX_SECRET_BYTES // 1024} kB, too large for a "
            "token or a key: is it the right file?"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what}: {shown} is not UTF-8 text; is it the right file?") from None
    if mode & stat.S_IROTH and not _in_secrets_dir(path) and path not in _warned:
        _warned.add(path)
        log.warning(
            "%s: the secrets file %s can be read by every user of this machine (mode %s); "
            "restrict it: chmod 600 %s",
            what,
            shown,
            oct(stat.S_IMODE(mode)),
            shown,
        )
    return text


def _in_secrets_dir(path: Path) -> bool:
    from leadsync.config.settings import secrets_dir

    folder = secrets_dir()
    return folder is not None and path.absolute().is_relative_to(folder.absolute())


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _secret_ref(value: Any, info: ValidationInfo) -> Any:
    """An environment variable's name (shorthand for ``{env: NAME}``) or ``{file: path}``.

    Anything else is taken for a secret written inline and refused, without echoing it;
    the message's example is named for the CRM and the field (``SALESFORCE_CONSUMER_SECRET_
    ACME``), so that it can be pasted as it is.
    """
    if isinstance(value, str):
        if not _ENV_NAME.match(value):
            title = str((info.config or {}).get("title") or "")
            crm = "SALESFORCE" if title.startswith("Salesforce") else "HUBSPOT"
            example = f"{crm}_{(info.field_name or 'token').upper()}_ACME"
            raise ValueError(
                f"must name an environment variable (e.g. {example}) or a file "
                "({file: path}); never write the secret itself in this file"
            )
        return {"env": value}
    return value


SecretField = Annotated[SecretRef, BeforeValidator(_secret_ref)]
