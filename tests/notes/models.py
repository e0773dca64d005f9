from django.db import models


class Note(models.Model):
    """A note, on the `notes` stream: signed-in users only."""

    title = models.CharField(max_length=100)
    body = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.title


class Bulletin(models.Model):
    """A bulletin, on the public `bulletins` stream."""

    text = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.text


class Ticket(models.Model):
    """A ticket filed in a queue (`a`, `b`, ..., blank for none): tests route it to per-queue streams."""

    title = models.CharField(max_length=100)
    queue = models.CharField(max_length=20, blank=True)

    def __str__(self) -> str:
        return self.title
