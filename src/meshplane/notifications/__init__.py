"""Notifications: what happened (a :class:`Notification` addressed to users, teams and products), who
subscribed to it (mesh.yaml ``notifications.subscriptions``), and the channels that carry it (signed webhooks,
e-mail over SMTP).

Pure of storage: the workspace stores notifications in the catalog's outbox and runs the deliverer, so emitting
one never waits for a receiver.
"""

from meshplane.notifications.channels import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SendResult,
    SmtpServer,
    backoff_delay,
    send_email,
    send_webhook,
    sign,
    verify,
)
from meshplane.notifications.model import Notification, product_audience, team, user
from meshplane.notifications.routing import Target, route

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Notification",
    "SendResult",
    "SmtpServer",
    "Target",
    "backoff_delay",
    "product_audience",
    "route",
    "send_email",
    "send_webhook",
    "sign",
    "team",
    "user",
    "verify",
]
