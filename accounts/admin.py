from django.contrib import admin

from accounts.models import APIKey, Membership, Organization


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin[Organization]):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "organization__name"]


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin[APIKey]):
    list_display = ["name", "prefix", "user", "organization", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash"]
    search_fields = ["name", "prefix", "user__username"]
