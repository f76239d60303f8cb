from django.urls import path

from ade import views

app_name = "ade"

urlpatterns = [
    path("", views.home, name="home"),
    path("members/", views.members, name="members"),
    path("keys/", views.api_keys, name="api-keys"),
    path("keys/<uuid:key_id>/revoke/", views.api_key_revoke, name="api-key-revoke"),
]
