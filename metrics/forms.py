"""Forms of the catalog pages."""

from django import forms

from metrics.models import ImageSet


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
