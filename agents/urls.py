from django.urls import URLPattern, path

from agents.api import AgentListApi, AgentRetrieveApi
from config.routes import slash_optional

app_name = "agents"

urlpatterns: list[URLPattern] = [
    *slash_optional("agents/", AgentListApi.as_view(), "agent-list"),
    path("agents/<str:agent_id>", AgentRetrieveApi.as_view(), name="agent-detail"),
]
