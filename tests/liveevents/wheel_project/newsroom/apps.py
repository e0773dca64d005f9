from django.apps import AppConfig


class NewsroomConfig(AppConfig):
    name = "newsroom"

    def ready(self) -> None:
        from liveevents.streams import PUBLIC, declare_stream

        declare_stream("news", readers=PUBLIC)
