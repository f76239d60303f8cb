"""An agent's core memory blocks (by label), attaching shared blocks, and the agents that use a block."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from agents.models import Agent
from agents.selectors import agent_list
from agents.services.agents import agent_block_attach, agent_block_detach
from api import wire
from api.base import ApiView, validated
from api.lookups import agent_or_404, block_or_404, present
from api.pagination import CursorParams, paginate_by
from api.schemas import AgentStateSchema, BlockUpdateInput
from api.schemas import BlockOutput as BlockSchema
from api.views.agents import agent_response, agents_with_relations
from memory.models import Block
from memory.services.blocks import block_update

S = serializers


def _agent_block(agent: Agent, label: str) -> Block:
    block = agent.blocks.filter(label=label).first()
    if block is None:
        raise NotFound(f"Agent has no block labelled {label!r}")
    return block


class AgentBlockListApi(ApiView):
    @extend_schema(
        operation_id="list_core_memory_blocks", parameters=[CursorParams], responses={200: BlockSchema(many=True)}
    )
    def get(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        params = validated(CursorParams, request.query_params)
        page = paginate_by(agent.blocks.all(), prefix="block", params=params)
        return Response([wire.block_to_wire(b) for b in page])


class AgentBlockDetailApi(ApiView):
    @extend_schema(operation_id="retrieve_core_memory_block", responses={200: BlockSchema})
    def get(self, request: Request, agent_id: str, block_label: str) -> Response:
        block = _agent_block(agent_or_404(request, agent_id), block_label)
        return Response(wire.block_to_wire(block))

    @extend_schema(operation_id="modify_core_memory_block", request=BlockUpdateInput, responses={200: BlockSchema})
    def patch(self, request: Request, agent_id: str, block_label: str) -> Response:
        block = _agent_block(agent_or_404(request, agent_id), block_label)
        data = validated(BlockUpdateInput, request.data, partial=True)
        changes = present(data, "value", "label", "limit", "read_only", "metadata", "tags")
        if "description" in data:
            changes["description"] = data["description"] or ""
        block = block_update(block=block, actor=api_actor(request), **changes)
        return Response(wire.block_to_wire(block))


class AgentBlockAttachApi(ApiView):
    @extend_schema(operation_id="attach_core_memory_block", request=None, responses={200: AgentStateSchema})
    def patch(self, request: Request, agent_id: str, block_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        agent_block_attach(agent=agent, block=block_or_404(request, block_id))
        return agent_response(agent)


class AgentBlockDetachApi(ApiView):
    @extend_schema(operation_id="detach_core_memory_block", request=None, responses={200: AgentStateSchema})
    def patch(self, request: Request, agent_id: str, block_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        agent_block_detach(agent=agent, block=block_or_404(request, block_id))
        return agent_response(agent)


class BlockAgentListApi(ApiView):
    @extend_schema(
        operation_id="list_agents_for_block", parameters=[CursorParams], responses={200: AgentStateSchema(many=True)}
    )
    def get(self, request: Request, block_id: str) -> Response:
        block = block_or_404(request, block_id)
        params = validated(CursorParams, request.query_params)
        qs = agent_list(actor=api_actor(request)).filter(agentblock__block=block)
        page = paginate_by(agents_with_relations(qs), prefix="agent", params=params)
        return Response([wire.agent_state(a) for a in page])
