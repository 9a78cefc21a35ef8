from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from apps.tenants.models import Membership


def memberships_for_user(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def membership_get(*, user: AbstractBaseUser, slug: str) -> Membership | None:
    """The user's membership of the tenant ``slug``; None when there is none (→ 404)."""
    return memberships_for_user(user=user).filter(tenant__slug=slug).first()
