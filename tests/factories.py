from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from apps.tenants.models import Membership, Role, Tenant


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = Role.OWNER


class DataSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "datasources.DataSource"

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Source {n}")
    slug = factory.Sequence(lambda n: f"source-{n}")
    base_url = "https://api.example.com"
    timeout_seconds = 10
    auth_mode = "none"
    auth_config = factory.LazyFunction(dict)
    secrets = factory.LazyFunction(dict)
