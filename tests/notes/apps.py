from django.apps import AppConfig


class NotesConfig(AppConfig):
    """A second, unrelated user of liveevents: notes readable by signed-in users only."""

    name = "tests.notes"
    label = "notes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from liveevents.bindings import bind
        from liveevents.streams import AUTHENTICATED, declare_stream
        from tests.notes.models import Note

        declare_stream("notes", readers=AUTHENTICATED)
        bind(
            Note,
            stream="notes",
            saved_event="noteSaved",
            deleted_event="noteDeleted",
            serialize=lambda note: {"id": note.pk, "title": note.title, "body": note.body},
        )
