"""REST API of the catalog (token or session auth, staff only).

Training scripts push images with
``curl -H "Authorization: Token $TOKEN" -F archive=@images.zip -F set_name=run-42
-F kind=generated -F model_name=mymodel http://host/api/imports/``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics import selectors
from metrics.models import Image, ImageSet, ModelUnderTest
from metrics.services.imports import ImportFailed, image_set_import


class ModelUnderTestSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelUnderTest
        fields = ["id", "name", "version", "notes", "created_at"]


class ImageSetSerializer(serializers.ModelSerializer):
    model = ModelUnderTestSerializer(read_only=True)
    image_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ImageSet
        fields = ["id", "name", "kind", "model", "description", "image_count", "created_at"]


class ImageSerializer(serializers.ModelSerializer):
    prompt = serializers.CharField(source="prompt.text", default="", read_only=True)
    source = serializers.CharField(source="source.filename", default="", read_only=True)

    class Meta:
        model = Image
        fields = [
            "id", "filename", "sha256", "width", "height", "format", "mode", "byte_size",
            "prompt", "source", "caption", "source_caption", "seed", "metadata",
        ]  # fmt: skip


class ImportSerializer(serializers.Serializer):
    archive = serializers.FileField()
    manifest = serializers.FileField(required=False)
    set_name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=ImageSet.Kind.choices, required=False)
    model_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    model_version = serializers.CharField(max_length=100, required=False, allow_blank=True)
    source_set = serializers.SlugRelatedField(
        slug_field="name", queryset=ImageSet.objects.all(), required=False
    )


class ModelUnderTestList(generics.ListAPIView):
    serializer_class = ModelUnderTestSerializer
    queryset = ModelUnderTest.objects.all()


class ImageSetList(generics.ListAPIView):
    serializer_class = ImageSetSerializer

    def get_queryset(self):
        return selectors.image_set_list()


class ImageSetImages(generics.ListAPIView):
    serializer_class = ImageSerializer

    def get_queryset(self):
        image_set = generics.get_object_or_404(ImageSet, pk=self.kwargs["pk"])
        return selectors.image_set_images(image_set=image_set)


class ImportCreate(APIView):
    """POST a zip (and optional manifest): 201 with counts, or 400 listing every problem."""

    parser_classes = [MultiPartParser, FormParser]

    def post(self, request):
        serializer = ImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with tempfile.TemporaryDirectory(prefix="evalsite-api-") as tmp:
            archive = Path(tmp) / "upload.zip"
            _write(data["archive"], archive)
            manifest = None
            if data.get("manifest"):
                suffix = Path(data["manifest"].name).suffix.lower() or ".csv"
                manifest = Path(tmp) / f"manifest{suffix}"
                _write(data["manifest"], manifest)
            try:
                result = image_set_import(
                    path=archive,
                    set_name=data["set_name"],
                    kind=data.get("kind"),
                    model_name=data.get("model_name") or None,
                    model_version=data.get("model_version", ""),
                    manifest=manifest,
                    source_set=data.get("source_set"),
                )
            except ImportFailed as exc:
                return Response(
                    {"detail": "nothing was imported", "problems": exc.problems},
                    status=status.HTTP_400_BAD_REQUEST,
                )
        return Response(
            {
                "image_set": result.image_set.pk,
                "set_name": result.image_set.name,
                "created": result.created,
                "unchanged": result.unchanged,
            },
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


def _write(upload, target: Path) -> None:
    with open(target, "wb") as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
