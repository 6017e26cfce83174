"""Tables of the control tower's own machinery (not the domain): tasks given up on."""

from django.db import models


class DeadLetter(models.Model):
    """A task the workers gave up on: it failed for good, or was delivered more often than the cap
    (a poison message that kills its worker). Dispatchers and admins see their organization's;
    retrying enqueues it again."""

    organization = models.ForeignKey("dispatch.Organization", null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="dead_letters")
    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=64, unique=True)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    deliveries = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=40)  # failed, redelivery_cap
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retried_at = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"])]

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)} ({self.reason})"
