from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import api_actor
from agents.models import Agent
from agents.selectors import agent_get, agent_list
from config.ids import parse_id


class AgentOutputSerializer(serializers.ModelSerializer[Agent]):
    id = serializers.SerializerMethodField()

    class Meta:
        model = Agent
        fields = ["id", "name", "description", "model", "created_at", "updated_at"]

    def get_id(self, obj: Agent) -> str:
        return f"agent-{obj.id}"


class AgentListApi(APIView):
    @extend_schema(operation_id="list_agents", responses={200: AgentOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        agents = agent_list(actor=api_actor(request))
        data: Any = AgentOutputSerializer(agents, many=True).data
        return Response(data)


class AgentRetrieveApi(APIView):
    @extend_schema(operation_id="retrieve_agent", responses={200: AgentOutputSerializer})
    def get(self, request: Request, agent_id: str) -> Response:
        try:
            agent = agent_get(actor=api_actor(request), agent_id=parse_id("agent", agent_id))
        except Agent.DoesNotExist:
            raise NotFound(f"Agent {agent_id} not found") from None
        return Response(AgentOutputSerializer(agent).data)
