"""The one base of the app's forms: Flask-WTF's ``FlaskForm``, as mypy sees it.

Flask-WTF and WTForms ship no type information, so their classes are ``Any``
to mypy and a form class would subclass ``Any``. Forms subclass this name
instead: at run time it *is* ``flask_wtf.FlaskForm``; to mypy it is the small
typed surface the views use (fields, read by name, stay ``Any``)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:

    class FlaskForm:
        data: dict[str, Any]
        errors: dict[str, list[Any]]
        meta: Any
        _fields: dict[str, Any]

        def __init__(self, formdata: Any = ..., obj: Any = None, prefix: str = "", data: Any = None,
                     meta: Any = None, **kwargs: Any) -> None: ...
        def validate(self, extra_validators: Any = None) -> bool: ...
        def validate_on_submit(self, extra_validators: Any = None) -> bool: ...
        def is_submitted(self) -> bool: ...
        def populate_obj(self, obj: Any) -> None: ...
        def hidden_tag(self, *fields: Any) -> Any: ...
        def __iter__(self) -> Iterator[Any]: ...
        def __getitem__(self, name: str) -> Any: ...
        def __getattr__(self, name: str) -> Any: ...

else:
    from flask_wtf import FlaskForm

__all__ = ["FlaskForm"]
