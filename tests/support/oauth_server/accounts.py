"""The test authorization server's user (importable without its Django settings)."""

USER = ("resource-owner", "owner-password-1")
