from drf_spectacular.utils import OpenApiParameter
from rest_framework import pagination, serializers


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M` (at most 200), with count, next and previous links."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def paginated(serializer: type[serializers.Serializer], name: str) -> serializers.Serializer:
    """The schema of a page of ``serializer`` as this pagination answers it (for views that
    paginate by hand)."""
    fields = {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer(many=True),
    }
    return type(name, (serializers.Serializer,), fields)()


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="A page number within the paginated result set."),
    OpenApiParameter("page_size", int, description="Results per page (at most 200)."),
]
