"""Database triggers that make the audit log append-only even for raw SQL."""
from django.db import migrations

SQLITE = [
    "CREATE TRIGGER reviews_auditevent_no_update BEFORE UPDATE ON reviews_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    "CREATE TRIGGER reviews_auditevent_no_delete BEFORE DELETE ON reviews_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
]
POSTGRES = [
    "CREATE OR REPLACE FUNCTION reviews_auditevent_refuse() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql;",
    "CREATE TRIGGER reviews_auditevent_no_change BEFORE UPDATE OR DELETE ON reviews_auditevent "
    "FOR EACH ROW EXECUTE FUNCTION reviews_auditevent_refuse();",
    # TRUNCATE skips row triggers; refuse it too
    "CREATE TRIGGER reviews_auditevent_no_truncate BEFORE TRUNCATE ON reviews_auditevent "
    "FOR EACH STATEMENT EXECUTE FUNCTION reviews_auditevent_refuse();",
]
DROP_SQLITE = ["DROP TRIGGER IF EXISTS reviews_auditevent_no_update;", "DROP TRIGGER IF EXISTS reviews_auditevent_no_delete;"]
DROP_POSTGRES = [
    "DROP TRIGGER IF EXISTS reviews_auditevent_no_change ON reviews_auditevent;",
    "DROP TRIGGER IF EXISTS reviews_auditevent_no_truncate ON reviews_auditevent;",
    "DROP FUNCTION IF EXISTS reviews_auditevent_refuse();",
]


def _run(statements_by_vendor):
    def apply(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial")]
    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRES}),
            _run({"sqlite": DROP_SQLITE, "postgresql": DROP_POSTGRES}),
        )
    ]
