from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("studies", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="image",
            name="tissue_bounds",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="image",
            name="tissue_window",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
