from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dispatch.errors import ValidationFailed
from dispatch.services.users import organization_create


class Command(BaseCommand):
    help = "Create a new, empty organization and its first admin; prints the admin's one-time password and where to start."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The organization's name, e.g. 'Fresh Goods'")
        parser.add_argument("--slug", default="", help="Short name for its URLs (default: from the name)")
        parser.add_argument("--admin", required=True, help="The first admin's username")
        parser.add_argument("--email", default="")
        parser.add_argument("--time-zone", default="", help="IANA name, e.g. America/Chicago (default: the installation's)")

    def handle(self, *args, **o):
        try:
            admin, password = organization_create(name=o["name"], slug=o["slug"], admin_username=o["admin"], admin_email=o["email"],
                                                  time_zone=o["time_zone"])
        except ValidationFailed as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())) from None
        self.stdout.write(f"Created {admin.organization.name} ({admin.organization.slug}).\n"
                          f"Sign in as {admin.username} with the one-time password {password}\n"
                          f"and open {settings.PUBLIC_BASE_URL}/welcome/ to import the network and plan a test day.")
