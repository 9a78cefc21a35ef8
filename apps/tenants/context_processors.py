from __future__ import annotations

from django.http import HttpRequest

from apps.tenants.navigation import tenant_nav
from apps.tenants.selectors import memberships_for_user


def tenant(request: HttpRequest) -> dict:
    """The tenant of a /t/<tenant>/ page, for navigation; admin pages are left alone."""
    current = getattr(request, "tenant", None)
    context: dict = {
        "current_tenant": current,
        "site_header": "Plugboard",
        "site_title": "Plugboard",
    }
    if current is not None:
        membership = getattr(request, "membership", None)
        context.update(
            current_membership=membership,
            can_write=bool(membership and membership.can_write),
            is_nav_sidebar_enabled=True,
            user_memberships=memberships_for_user(user=request.user),
            tenant_nav=tenant_nav(request, current.slug),
        )
    return context
