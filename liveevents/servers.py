"""What serves streams: an ASGI server, and how to run one, as the stream views and the checks say it."""

from __future__ import annotations

from django.conf import settings


def asgi_target() -> str:
    """The project's ASGI application as servers name it on their command line: `project.asgi:application`."""
    path = getattr(settings, "ASGI_APPLICATION", None)
    module, _, name = path.rpartition(".") if isinstance(path, str) else ("", "", "")
    return f"{module}:{name}" if module and name else "yourproject.asgi:application"


def how_to_serve_asgi() -> str:
    """How to run the project under an ASGI server, with runserver or without it."""
    target = asgi_target()
    return (
        "With runserver: pip install daphne and add 'daphne' to INSTALLED_APPS before "
        "'django.contrib.staticfiles' (and set ASGI_APPLICATION); runserver then serves ASGI. "
        f"Otherwise serve the project with an ASGI server: `daphne {target}` or `uvicorn {target}`."
    )
