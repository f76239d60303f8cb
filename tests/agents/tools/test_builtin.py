"""The built-in tools are rows written after migrate; listing tools only reads."""

import pytest
from django.core.management.sql import emit_post_migrate_signal

from agents.models import Tool
from agents.selectors import tool_list
from agents.tools.builtin import BUILTIN_SCHEMAS

pytestmark = pytest.mark.django_db


def test_listing_tools_writes_nothing(alice):
    Tool.objects.filter(organization=None).delete()
    assert list(tool_list(actor=alice)) == []
    assert not Tool.objects.filter(organization=None).exists(), "a selector created the built-in tools"


def test_migrate_seeds_the_builtin_tools(alice):
    Tool.objects.filter(organization=None).delete()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert set(Tool.objects.filter(organization=None).values_list("name", flat=True)) == set(BUILTIN_SCHEMAS)
    assert {t.name for t in tool_list(actor=alice)} == set(BUILTIN_SCHEMAS)
