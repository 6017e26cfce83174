from django.apps import AppConfig


class InfraConfig(AppConfig):
    """The infrastructure's own table (dead letters). Its label stays "controltower", the app it lived
    in before it had a package of its own, so the table and its migrations are unchanged."""

    default = True
    name = "infra"
    label = "controltower"
    verbose_name = "Control tower machinery"
    # The embedded beat (CT_TICKER=1) is started by the web server's entry point (controltower.asgi),
    # never by every process that loads the apps: a management command (the simulator, a seed)
    # started with the same environment ran a second beat beside the web process's.
