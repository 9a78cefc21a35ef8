from apps.outbound.auth.base import AuthMode


class NoAuth(AuthMode):
    name = "none"
    label = "No authentication"
    example = {"mode": "none"}
