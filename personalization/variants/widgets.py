"""The variant's segment picker: checkboxes with a search box, instead of a bare multi-select.

A multi-select of forty segments needs Ctrl-click and hides what is chosen once it scrolls; a
list of checkboxes shows every choice, and typing in the search box hides the segments whose
name or slug does not contain the text (``segment_picker.js``, loaded as the widget's media so
it follows the widget into page and snippet editors, in StreamField blocks added later too).
"""

from __future__ import annotations

from django import forms


class SegmentCheckboxes(forms.CheckboxSelectMultiple):
    template_name = "personalization/widgets/segment_checkboxes.html"

    class Media:
        css = {"all": ["personalization/segment_picker.css"]}
        js = ["personalization/segment_picker.js"]
