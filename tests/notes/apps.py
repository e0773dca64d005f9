from django.apps import AppConfig


class NotesConfig(AppConfig):
    """The smallest user of liveevents: public bulletins, and notes for signed-in users only."""

    name = "tests.notes"
    label = "notes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from liveevents.bindings import bind
        from liveevents.streams import AUTHENTICATED, PUBLIC, declare_stream
        from tests.notes.models import Bulletin, Note

        declare_stream("notes", readers=AUTHENTICATED)
        bind(
            Note,
            stream="notes",
            saved_event="noteSaved",
            deleted_event="noteDeleted",
            serialize=lambda note: {"id": note.pk, "title": note.title, "body": note.body},
        )
        declare_stream("bulletins", readers=PUBLIC)
        bind(
            Bulletin,
            stream="bulletins",
            saved_event="bulletinSaved",
            deleted_event="bulletinRemoved",
            serialize=lambda bulletin: {"id": bulletin.pk, "text": bulletin.text},
            serialize_deleted=lambda bulletin: {"id": bulletin.pk},
        )
