import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flightboard", "0002_announcement"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="flight",
            name="terminal",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Where it arrives, e.g. 2; leave empty for none. It is on that terminal's board.",
                max_length=4,
                validators=[
                    django.core.validators.RegexValidator(
                        "\\A[A-Z0-9]{1,4}\\Z",
                        "A terminal is 1 to 4 capital letters or digits, like 1 or T2B.",
                    )
                ],
                verbose_name="terminal",
            ),
        ),
        migrations.CreateModel(
            name="Follow",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                (
                    "flight",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="follows",
                        to="flightboard.flight",
                        verbose_name="flight",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="follows",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            options={
                "verbose_name": "follow",
                "verbose_name_plural": "follows",
                "ordering": ["flight__arrival", "flight__flight"],
                "constraints": [models.UniqueConstraint(fields=("user", "flight"), name="follow_once")],
            },
        ),
    ]
