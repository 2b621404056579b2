"""REST API of the catalog (token or session auth, staff only).

Training scripts push images with
``curl -H "Authorization: Token $TOKEN" -F archive=@images.zip -F set_name=run-42
-F kind=generated -F model_name=mymodel http://host/api/imports/``: the answer is
202 with the import job's URL, polled until its status is done or failed.
"""

from __future__ import annotations

from django.urls import reverse
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics import selectors
from metrics.forms import import_request_errors
from metrics.models import Image, ImageSet, ImportJob, ModelUnderTest
from metrics.services.import_jobs import import_job_create
from metrics.services.imports import ImportFailed


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

    def validate(self, data):
        errors = import_request_errors(data)
        if errors:
            raise serializers.ValidationError(errors)
        return data


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


class ImportJobSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    image_set = serializers.PrimaryKeyRelatedField(read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id", "url", "status", "stage", "progress", "problems", "set_name", "image_set",
            "created", "unchanged", "archive_name", "manifest_name", "created_at", "finished_at",
        ]  # fmt: skip

    def get_progress(self, job: ImportJob) -> dict:
        return {"done": job.progress_done, "total": job.progress_total,
                "percent": job.progress_percent}  # fmt: skip

    def get_url(self, job: ImportJob) -> str:
        return job_api_url(self.context.get("request"), job)


def job_api_url(request, job: ImportJob) -> str:
    path = reverse("api-import", args=[job.pk])
    return request.build_absolute_uri(path) if request is not None else path


class ImportCreate(APIView):
    """POST a zip (and optional manifest): 202 with the import job's URL, or 400 listing problems.

    The import runs on a worker; ``GET`` the job's URL for its status, progress and
    problems, and the created set once it is done.
    """

    parser_classes = [MultiPartParser, FormParser]

    def post(self, request):
        serializer = ImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            job = import_job_create(
                archive=data["archive"],
                manifest=data.get("manifest"),
                set_name=data["set_name"],
                kind=data.get("kind", ""),
                model_name=data.get("model_name", ""),
                model_version=data.get("model_version", ""),
                source_set=data.get("source_set"),
                door=ImportJob.Door.API,
                user=request.user,
            )
        except ImportFailed as exc:
            return Response(
                {"detail": "nothing was imported", "problems": exc.problems},
                status=status.HTTP_400_BAD_REQUEST,
            )
        body = ImportJobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class ImportJobDetail(generics.RetrieveAPIView):
    """An import job: status (queued, running, done, failed), progress, problems, the set."""

    serializer_class = ImportJobSerializer
    queryset = ImportJob.objects.all()
