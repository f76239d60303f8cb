"""Cursor pagination for `/v1` lists (Letta's convention): bare JSON arrays, paged by `after`/`before` item ids.

The SDK pages forwards with `after=<last item id>` (or backwards with `before=<first item id>`) until it gets an
empty page. Cursors are exclusive and follow the listing order: with `order=desc`, `after` gives older items.
"""

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

from django.db.models import F, Model, Q, QuerySet
from rest_framework import serializers

from lib.ids import IdPrefix, parse_id

M = TypeVar("M", bound=Model)
Order = Literal["asc", "desc"]
MAX_LIMIT = 1000


class CursorParams(serializers.Serializer[Any]):
    """Query parameters shared by every list route; views subclass it to add filters or change defaults."""

    after = serializers.CharField(required=False, allow_null=True, help_text="Return items after this id.")
    before = serializers.CharField(required=False, allow_null=True, help_text="Return items before this id.")
    limit = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_LIMIT, default=50)
    order = serializers.ChoiceField(choices=["asc", "desc"], required=False, default="asc")
    order_by = serializers.ChoiceField(choices=["created_at"], required=False, default="created_at")


def cursor_id(prefix: IdPrefix, raw: str | None, *, field: str) -> uuid.UUID | None:
    """The UUID inside a cursor; a malformed cursor is a validation error (422), not a 404."""
    if not raw:
        return None
    try:
        return parse_id(prefix, raw)
    except Exception:
        raise serializers.ValidationError({field: f"is not a valid {prefix} id"}) from None


def paginate(
    qs: QuerySet[M],
    *,
    prefix: IdPrefix,
    after: str | None,
    before: str | None,
    limit: int | None,
    order: Order = "asc",
    keys: Sequence[str] = ("created_at", "id"),
    default_limit: int = 50,
) -> list[M]:
    """One page of `qs` ordered by `keys` (the last must be unique). A cursor that is not in `qs` (another
    organization's, deleted, or never existed) is a 422: it cannot be placed in the order."""
    qs = qs.order_by(*[F(k).desc() for k in keys]) if order == "desc" else qs.order_by(*keys)
    for name, raw, later in (("after", after, order == "asc"), ("before", before, order == "desc")):
        pk = cursor_id(prefix, raw, field=name)
        if pk is None:
            continue
        values = qs.filter(pk=pk).values_list(*keys).first()
        if values is None:
            raise serializers.ValidationError({name: f"{raw} is not in this list"})
        qs = qs.filter(_beyond(keys, values, later=later))
    return list(qs[: limit or default_limit])


def paginate_by(qs: QuerySet[M], *, prefix: IdPrefix, params: Mapping[str, Any], **options: Any) -> list[M]:
    """`paginate` with the cursor parameters (`after`, `before`, `limit`, `order`) of a validated query."""
    return paginate(
        qs,
        prefix=prefix,
        after=params.get("after"),
        before=params.get("before"),
        limit=params.get("limit"),
        order=params.get("order", "asc"),
        **options,
    )


def _beyond(keys: Sequence[str], values: Sequence[Any], *, later: bool) -> Q:
    """Rows strictly after (or before) `values` in the lexicographic order of `keys`."""
    op = "gt" if later else "lt"
    condition = Q()
    for i in range(len(keys)):
        equal = dict(zip(keys[:i], values[:i], strict=True))
        condition |= Q(**equal, **{f"{keys[i]}__{op}": values[i]})
    return condition
