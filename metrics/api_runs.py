"""REST API of metric runs (token or session auth, staff only, like the catalog's).

Start one from a script with
``curl -H "Authorization: Token $TOKEN" -H "Content-Type: application/json"
-d '{"metric": "fid", "image_set": "run-42", "reference_set": "coco-val"}'
http://host/api/runs/``, then poll ``/api/runs/<id>/`` until ``status`` is ``done``,
``failed`` or ``cancelled``. A request the platform cannot run is answered 400 with
``{"detail": "<why, and what to do>"}``.

Send an ``Idempotency-Key`` header (any string up to 100 characters) to make a retry
safe: the same key from the same user returns the run the first request created
(200) instead of starting a second one (201). A run is recorded even while the
broker is down; it starts once the broker is back.
"""

from __future__ import annotations

from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics.engine.metadata import metric_info
from metrics.forms_runs import params_check
from metrics.models import ImageSet, MetricRun, MetricRunItem
from metrics.selectors import metric_run_by_idempotency_key
from metrics.services.recipes import RECIPES, recipe_get
from metrics.services.runs import RunRefused, metric_run_cancel, metric_run_create
from metrics.views_runs import INFINITE_WHEN_NULL, ITEM_SORTS, run_items_sorted, run_list_filtered


class MetricRunSerializer(serializers.ModelSerializer):
    metric_label = serializers.SerializerMethodField()
    image_set_name = serializers.CharField(source="image_set.name", read_only=True)
    reference_set_name = serializers.CharField(
        source="reference_set.name", default=None, read_only=True
    )
    progress = serializers.SerializerMethodField()
    interval = serializers.SerializerMethodField()
    duration_s = serializers.FloatField(read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = MetricRun
        fields = [
            "id", "metric", "metric_label", "image_set", "image_set_name", "reference_set",
            "reference_set_name", "params", "status", "progress", "value", "std", "interval",
            "result", "provenance", "error", "features_computed", "created_at", "started_at",
            "finished_at", "duration_s", "url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_metric_label(self, run: MetricRun) -> str:
        return metric_info(run.metric).label

    def get_progress(self, run: MetricRun) -> dict:
        return {
            "done": run.progress_done,
            "total": run.progress_total,
            "percent": run.progress_percent,
        }

    def get_interval(self, run: MetricRun) -> list[float] | None:
        if run.interval_low is None or run.interval_high is None:
            return None
        return [run.interval_low, run.interval_high]


class MetricRunItemSerializer(serializers.ModelSerializer):
    filename = serializers.CharField(source="image.filename", read_only=True)
    value = serializers.SerializerMethodField()

    class Meta:
        model = MetricRunItem
        fields = ["image", "filename", "value", "raw"]
        read_only_fields = fields

    def get_value(self, item: MetricRunItem) -> float | str | None:
        # As in a result's JSON (MetricResult.to_dict): PSNR's null is the string "inf".
        if item.value is None and self.context.get("metric") in INFINITE_WHEN_NULL:
            return "inf"
        return item.value


class RunCreateSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text=f"one of {', '.join(RECIPES)}")
    image_set = serializers.CharField(help_text="id or name")
    reference_set = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="id or name"
    )
    params = serializers.DictField(required=False, default=dict)


class Refused(APIException):
    """A request that cannot be run: 400 with ``{"detail": message}``."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "refused"


def _set_by_id_or_name(value: str, what: str) -> ImageSet:
    value = str(value).strip()
    image_set = ImageSet.objects.filter(name=value).first()
    if image_set is None and value.isdigit():
        image_set = ImageSet.objects.filter(pk=int(value)).first()
    if image_set is None:
        raise Refused(f"{what} {value!r} does not exist (give its id or its name)")
    return image_set


class RunListCreate(generics.ListAPIView):
    """GET: runs, newest first (?status=, ?metric=, ?image_set= id or name). POST: start one."""

    serializer_class = MetricRunSerializer

    def get_queryset(self):
        query = self.request.query_params
        image_set = None
        if query.get("image_set"):
            image_set = _set_by_id_or_name(query["image_set"], "image set")
        return run_list_filtered(
            status=query.get("status", ""), metric=query.get("metric", ""), image_set=image_set
        )

    def post(self, request):
        serializer = RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            image_set = _set_by_id_or_name(data["image_set"], "image set")
            reference = data.get("reference_set")
            reference_set = _set_by_id_or_name(reference, "reference set") if reference else None
            params = params_check(recipe_get(data["metric"]), data.get("params"))
            key = request.headers.get("Idempotency-Key", "")
            earlier = metric_run_by_idempotency_key(user=request.user, key=key)
            if earlier is not None:
                return Response(MetricRunSerializer(earlier).data, status=status.HTTP_200_OK)
            run = metric_run_create(
                metric=data["metric"],
                image_set=image_set,
                reference_set=reference_set,
                params=params,
                user=request.user,
                idempotency_key=key,
            )
        except (RunRefused, ValueError) as exc:
            raise Refused(str(exc)) from None
        return Response(MetricRunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetail(generics.RetrieveAPIView):
    """One run: status, progress, result, provenance, error."""

    serializer_class = MetricRunSerializer
    queryset = MetricRun.objects.select_related("image_set", "reference_set")


class ItemPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class RunItems(generics.ListAPIView):
    """The run's per-image values with file names (?sort=value|-value|filename, ?page_size=)."""

    serializer_class = MetricRunItemSerializer
    pagination_class = ItemPagination

    def get_queryset(self):
        self.run = generics.get_object_or_404(MetricRun, pk=self.kwargs["pk"])
        sort = self.request.query_params.get("sort", "filename")
        if sort not in ITEM_SORTS:
            raise Refused(f"unknown sort {sort!r}; use one of {', '.join(ITEM_SORTS)}")
        return run_items_sorted(run=self.run, sort=sort)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        run = getattr(self, "run", None)
        context["metric"] = run.metric if run else None
        return context


class RunCancel(APIView):
    """POST: cancel a queued or running run; 409 if it had already ended."""

    def post(self, request, pk: int):
        run = generics.get_object_or_404(MetricRun, pk=pk)
        cancelled = metric_run_cancel(run=run)
        run.refresh_from_db()
        if not cancelled:
            return Response(
                {"detail": f"run {run.pk} had already ended ({run.status})"},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(MetricRunSerializer(run).data)
