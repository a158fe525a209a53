"""Which subscribed channels a notification goes to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from meshplane.notifications.model import Notification
from meshplane.spec.models import NotificationsConfig

__all__ = ["Target", "reach", "route"]


@dataclass(frozen=True, order=True)
class Target:
    channel: str
    channel_type: str
    subscriber: str


def reach(audience: frozenset[str] | set[str], teams_of: Mapping[str, frozenset[str]]) -> set[str]:
    """The audience plus every member of its teams (``user:<name>``): whose inbox a notification reaches."""
    found = set(audience)
    for principal in audience:
        if principal.startswith("team:"):
            found |= {f"user:{member}" for member in teams_of.get(principal.removeprefix("team:"), ())}
    return found


def route(
    notification: Notification,
    config: NotificationsConfig,
    teams_of: Mapping[str, frozenset[str]],
    environ: Mapping[str, str] | None = None,
) -> list[Target]:
    """One target per (channel, subscriber) whose subscription covers the notification's kind and audience.

    A user's subscription also matches what is addressed to their teams; a team's, what is addressed to it. A
    webhook whose ``url_env`` is not set in ``environ`` is off (so example meshes stay offline until set)."""
    reached = reach(notification.audience, teams_of)
    targets: set[Target] = set()
    for subscription in config.subscriptions:
        if "*" not in subscription.events and notification.kind not in subscription.events:
            continue
        if subscription.subscriber not in reached:
            continue
        channel = config.channels.get(subscription.channel)
        if channel is None:
            continue
        unset = channel.type == "webhook" and channel.url is None and not (environ or {}).get(channel.url_env or "")
        if unset and environ is not None:
            continue
        targets.add(Target(subscription.channel, channel.type, subscription.subscriber))
    return sorted(targets)
