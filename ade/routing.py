from django.urls import URLPattern, URLResolver, path

from ade.consumers import AgentConsumer, OrganizationConsumer

websocket_urlpatterns: list[URLPattern | URLResolver] = [
    path("ws/agents/<uuid:agent_id>/", AgentConsumer.as_asgi(), name="agent-events"),
    path("ws/organization/", OrganizationConsumer.as_asgi(), name="organization-events"),
]
