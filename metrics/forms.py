"""Forms of the catalog pages."""

from django import forms
from django.conf import settings

from metrics.models import ImageSet
from metrics.services.manifest import text_problem


class ImportForm(forms.Form):
    """Upload a zip of images (and optionally a manifest) into a set."""

    archive = forms.FileField(help_text="A .zip of images (it may hold manifest.csv or .jsonl)")
    manifest = forms.FileField(
        required=False, help_text="CSV or JSONL: file, prompt, source, caption, seed, ..."
    )
    set_name = forms.CharField(max_length=200, label="Image set")
    kind = forms.ChoiceField(choices=ImageSet.Kind.choices)
    model_name = forms.CharField(
        max_length=200, required=False, label="Model under test", help_text="for generated sets"
    )
    model_version = forms.CharField(max_length=100, required=False)
    source_set = forms.ModelChoiceField(
        queryset=ImageSet.objects.filter(kind=ImageSet.Kind.SOURCE),
        required=False,
        help_text="for image-to-image sets whose manifest names source images",
    )

    def clean(self):
        data = super().clean()
        for name, message in import_request_errors(data).items():
            self.add_error(name, message)
        return data


def import_request_errors(data: dict) -> dict[str, str]:
    """Field -> message for an import request's uploads over the limit and unstorable names
    (the form and the API check the same)."""
    errors = {}
    for name in ("archive", "manifest"):
        upload = data.get(name)
        if upload and upload.size > settings.EVALSITE_MAX_UPLOAD_BYTES:
            errors[name] = upload_too_large(upload.size)
    for name in ("set_name", "model_name", "model_version"):
        bad = text_problem(data.get(name) or "", allow_newlines=False)
        if bad:
            errors[name] = f"This value {bad}."
    return errors


def upload_too_large(size: int) -> str:
    """The message for an upload over EVALSITE_MAX_UPLOAD_BYTES (form and API)."""
    limit = settings.EVALSITE_MAX_UPLOAD_BYTES
    return (
        f"The file is {size:,} bytes, over the upload limit of {limit:,}; "
        "split the set into several zips imported into the same set."
    )
