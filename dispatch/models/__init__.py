"""The domain core's tables, one module per context. Models hold data and invariants of one row;
every write that spans rows lives in dispatch.services. Everything is importable from here
(dispatch.models.Order), and the app label stays `dispatch`."""

from .audit import AppendOnlyQuerySet, ClockAnchor, Event, IdempotencyRecord  # noqa: F401
from .configuration import NetworkImport, Policy, ScheduledChange, ServiceLevelRule  # noqa: F401
from .decisions import Decision, OrderException  # noqa: F401
from .messaging import CustomerMessage, MessageTemplate  # noqa: F401
from .network import LAT, LON, Driver, Fleet, Hub, Shift, ShiftMessage, Vehicle, VehiclePosition  # noqa: F401
from .orders import (  # noqa: F401
    Assignment,
    Order,
    ProofOfDelivery,
    Route,
    Stop,
    new_delivery_pin,
    new_tracking_token,
    proof_upload_to,
)
from .reporting import DailyLateness, DailyRollup, DailySavings, RollupDirty  # noqa: F401
from .tenancy import ApiToken, Organization, User, history_user  # noqa: F401
from .travel import AreaFactor, TravelFactor  # noqa: F401
