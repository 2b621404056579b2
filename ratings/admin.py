"""Django admin for the ratings app: a raw view for researchers; campaigns are run from /campaigns/."""

from django.contrib import admin

from ratings.models import Assignment, Campaign, Criterion, Item, ItemImage, Judge, Rating


class CriterionInline(admin.TabularInline):
    """Read only: criteria shape the items, which the campaign pages remake on edit."""

    model = Criterion
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in Criterion._meta.fields if f.name != "id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "target_ratings", "judge_cap", "allow_link", "created_at"]
    list_filter = ["status", "allow_link"]
    search_fields = ["name", "title"]
    # What shapes the items is changed on the campaign's page (Edit), where the items are
    # made again by the item-building service; here it is read only.
    readonly_fields = [
        "key", "created_at", "opened_at", "closed_at", "seed", "image_sets", "reference_set",
        "grid_size", "pairs_per_prompt", "gold_items", "image_side", "image_fit",
    ]  # fmt: skip
    filter_horizontal = ["invited"]
    inlines = [CriterionInline]


class ItemImageInline(admin.TabularInline):
    model = ItemImage
    extra = 0
    raw_id_fields = ["image"]
    readonly_fields = ["token"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign", "kind", "gold", "prompt"]
    list_filter = ["campaign", "kind", "gold"]
    raw_id_fields = ["prompt", "shown_prompt"]
    inlines = [ItemImageInline]


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign", "source", "external_id", "user", "flagged", "excluded"]
    list_filter = ["campaign", "source", "flagged", "excluded"]
    search_fields = ["external_id", "user__username", "study_id", "session_id"]
    raw_id_fields = ["user"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign", "item", "judge", "status", "leased_at", "time_ms"]
    list_filter = ["campaign", "status", "is_gold"]
    raw_id_fields = ["item", "judge"]
    readonly_fields = ["token"]


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["id", "judge", "item", "criterion", "value", "choice", "cant_tell", "time_ms"]
    list_filter = ["criterion__campaign", "criterion__key", "cant_tell"]
    raw_id_fields = ["assignment", "judge", "item", "criterion"]
