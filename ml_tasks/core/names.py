"""Pipeline names: the one rule every name from a CLI flag, a spec or a URL meets before it becomes
part of a path (lake zones, spec and suite files) or a DAG or model name."""

from __future__ import annotations

import re

PIPELINE_NAME = r"^[a-z][a-z0-9_]{0,62}$"
_PATTERN = re.compile(PIPELINE_NAME)


class PipelineNameError(ValueError):
    """A pipeline name that could leave its folder or break a DAG id."""


def checked_pipeline_name(name: str) -> str:
    """``name`` when it is a valid pipeline name, else a :class:`PipelineNameError` saying what is wrong."""
    if not isinstance(name, str) or not _PATTERN.fullmatch(name):
        raise PipelineNameError(
            f"pipeline name {str(name)[:80]!r} is not valid: a lowercase letter, then up to 62 "
            "lowercase letters, digits or underscores"
        )
    return name
