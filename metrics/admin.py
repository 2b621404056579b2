from django.contrib import admin

from metrics.models import Image, ImageSet, ImportJob, ModelUnderTest, Prompt


@admin.register(ModelUnderTest)
class ModelUnderTestAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "created_at"]
    search_fields = ["name", "version"]


@admin.register(ImageSet)
class ImageSetAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "model", "created_at"]
    list_filter = ["kind", "model"]
    search_fields = ["name"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "__str__"]
    search_fields = ["text"]
    readonly_fields = ["text_sha256"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["filename", "image_set", "width", "height", "format", "prompt"]
    list_filter = ["image_set__kind", "image_set", "format"]
    search_fields = ["filename", "sha256", "prompt__text"]
    raw_id_fields = ["prompt", "source"]
    readonly_fields = ["sha256", "blob", "byte_size", "width", "height", "format", "mode"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Import jobs are written by the upload doors and the worker: shown, not edited."""

    list_display = ["id", "set_name", "archive_name", "status", "door", "created", "created_at"]
    list_filter = ["status", "door"]
    search_fields = ["set_name", "archive_name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
