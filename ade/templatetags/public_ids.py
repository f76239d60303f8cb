"""`{{ block.id|public_id:"block" }}`: the id the channel events carry (lib.ids), for htmx triggers that match them."""

import uuid

from django import template

from lib.ids import IdPrefix
from lib.ids import public_id as build

register = template.Library()


@register.filter
def public_id(value: uuid.UUID | str, prefix: IdPrefix) -> str:
    return build(prefix, value)
