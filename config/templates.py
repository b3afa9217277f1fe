"""Finding a scoring model by name (shipped templates, the user's model folders) or path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from leadsync.config.settings import Settings
from leadsync.errors import ModelError
from leadsync.scoring.loader import parse_model
from leadsync.scoring.model import ScoringModel

_TEMPLATES = "templates"


def template_names() -> list[str]:
    """Names of the templates shipped with leadsync."""
    folder = resources.files("leadsync.config").joinpath(_TEMPLATES)
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def user_models(settings: Settings | None = None) -> dict[str, Path]:
    """Models found in the folders of ``LEADSYNC_MODELS_PATH``, by name."""
    found: dict[str, Path] = {}
    for folder in (settings or Settings()).models_path:
        for path in sorted(Path(folder).glob("*.y*ml")):
            found.setdefault(path.stem, path)
    return found


def resolve_model(name_or_path: str, settings: Settings | None = None) -> ScoringModel:
    """Load a model from a file path, a model folder, or the shipped templates, in that order."""
    text, source = model_source(name_or_path, settings)
    return parse_model(text, source=source)


def model_source(name_or_path: str, settings: Settings | None = None) -> tuple[str, str]:
    """The YAML text of the model :func:`resolve_model` loads, and where it comes from."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ModelError(name_or_path, ["no such file"])
        return _read(path), path.name
    mine = user_models(settings)
    if name_or_path in mine:
        return _read(mine[name_or_path]), mine[name_or_path].name
    if name_or_path in template_names():
        text = resources.files("leadsync.config").joinpath(_TEMPLATES, f"{name_or_path}.yaml")
        return text.read_text(encoding="utf-8"), f"{name_or_path}.yaml"
    known = ", ".join(sorted({*template_names(), *mine}))
    raise ModelError(
        name_or_path, [f"no model of that name (known: {known}; or give a path to a .yaml file)"]
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(str(path), [f"cannot read the file ({exc.strerror})"]) from None
    except UnicodeDecodeError:
        raise ModelError(str(path), ["not a UTF-8 text file"]) from None


def example_leads() -> Path:
    """The example leads shipped with leadsync, scored when no file is given."""
    return Path(str(resources.files("leadsync.config").joinpath("examples", "leads.jsonl")))
