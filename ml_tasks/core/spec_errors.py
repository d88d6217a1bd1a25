"""Pydantic's validation errors of a spec, as (dotted key, what is wrong and how to fix it)."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError


def _fields_at(loc: tuple, root: type[BaseModel]) -> list[str]:
    """The keys the spec allows where ``loc`` points (for 'did you mean')."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if model else None
        annotation = getattr(field, "annotation", None)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if model is None:
            return []
    return list(model.model_fields) if model else []


def describe_errors(exc: ValidationError, root: type[BaseModel]) -> list[tuple[str, str]]:
    """(dotted key, what is wrong and how to fix it) for every error pydantic found validating ``root``."""
    import difflib

    out = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        kind, msg = err["type"], err["msg"]
        if kind == "extra_forbidden":
            close = difflib.get_close_matches(str(err["loc"][-1]), _fields_at(err["loc"], root), n=1)
            msg = "unknown key" + (
                f"; did you mean {close[0]!r}?" if close else "; remove it (see docs/adding-a-pipeline.md)"
            )
        elif kind == "missing":
            msg = "required key is missing; add it"
        elif kind == "literal_error":
            msg = f"{msg} (got {err.get('input')!r})"
        out.append((key, msg))
    return out
