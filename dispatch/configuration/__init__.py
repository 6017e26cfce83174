"""Configuration services: every write of an organization's settings, validated, applied now or scheduled
for later, every version kept by django-simple-history (who, when, what) and any earlier version
restorable. Concurrent edits: the editor states the version it saw; if someone saved since, a
Conflict. What is in force now is read through dispatch.selectors (policy_for, service_rules).

One module per kind of setting: `rules` (service levels and the policy), `costs` (vans, rate cards,
zone surcharges), `templates` (customer message wording), `schedule` (changes kept for a later
moment), `versions` (what they share). Everything public is importable from here."""

from .costs import (  # noqa: F401
    FIRST_COSTS,
    RATE_FORM_FIELDS,
    VERSIONED_FIELDS,
    clean_rate_card,
    clean_vehicle_costs,
    clean_zone_surcharge,
    parse_weight_breaks,
    rate_card_form,
    rate_card_rollback,
    rate_card_set,
    vehicle_cost_versions,
    vehicle_costs_rollback,
    vehicle_costs_set,
    zone_surcharge_rollback,
    zone_surcharge_set,
)
from .organization import organization_set  # noqa: F401
from .rules import (  # noqa: F401
    FLOATS,
    POLICY_FIELDS,
    POLICY_LIMITS,
    RULE_FIELDS,
    RULE_LIMITS,
    RULE_NUMBERS,
    clean_policy,
    clean_rule,
    policy_change,
    policy_rollback,
    rule_change,
    rule_rollback,
    rule_stored_with_defaults,
)
from .schedule import apply_due_changes, scheduled_cancel  # noqa: F401
from .templates import (  # noqa: F401
    DEFAULTS,
    PLACEHOLDERS,
    SAFE_FILTERS,
    SAFE_TAGS,
    render_template,
    template_change,
    template_clean,
    template_errors,
    template_for,
    template_reset,
    template_rollback,
    template_save,
    template_version,
)
from .versions import diff, history_values, version_of  # noqa: F401
