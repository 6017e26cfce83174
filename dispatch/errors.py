"""Domain errors. Each rule has its own class with a machine-readable code and a sentence a
person can act on; the API turns them into 4xx responses."""


class DomainError(Exception):
    code = "invalid"
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None, **context):
        super().__init__(message)
        self.message = message
        self.field = field
        self.context = context


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Forbidden(DomainError):
    """The user's role or hub scope does not reach this (the edge answers 403)."""

    code = "permission_denied"
    http_status = 403


class InvalidTransition(DomainError):
    code = "invalid_transition"
    http_status = 409


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"


class ValidationFailed(DomainError):
    code = "validation_failed"
    http_status = 400

    def __init__(self, message: str, *, errors: dict | None = None, **context):
        super().__init__(message, **context)
        self.errors = errors or {}
