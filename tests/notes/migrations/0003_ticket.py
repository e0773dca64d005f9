from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notes", "0002_bulletin")]

    operations = [
        migrations.CreateModel(
            name="Ticket",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=100)),
                ("queue", models.CharField(blank=True, max_length=20)),
            ],
        ),
    ]
