"""A minimal Django project that serves the flights stream through django-eventstream 5.3.4.

The benchmark's peer for liveevents: the same Flight row, the same flightStateUpdate event, sent
by the model's post_save signal through django_eventstream.send_event (on commit) into its
DjangoModelStorage; served by daphne. REDIS_URL switches on its Redis mode (EVENTSTREAM_REDIS)
for several server processes; DATABASE_URL picks the database (SQLite in EVENTSTREAM_VAR_DIR by
default).
"""
