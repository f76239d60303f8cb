from functools import partial
from typing import Any

import pytest

from tests import factories


@pytest.fixture
def make_agent(alice: Any) -> Any:
    """`factories.make_agent` with Alice as the actor."""
    return partial(factories.make_agent, alice)


@pytest.fixture
def send(alice: Any) -> Any:
    """`factories.send` with Alice as the actor."""
    return partial(factories.send, alice)
