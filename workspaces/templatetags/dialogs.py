"""`{% modal_title %}…{% endmodal_title %}`: a dialog's title at the heading level it has where
it is shown. Loaded into the shared modal (HTMX) it is an h2 under the page's h1; opened as a
page of its own (no JavaScript, or a link opened in a new tab) it is that page's h1."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()


class ModalTitleNode(template.Node):
    def __init__(self, nodelist: template.NodeList, classes: str):
        self.nodelist = nodelist
        self.classes = classes

    def render(self, context) -> str:
        request = context.get("request")
        level = "h2" if getattr(request, "htmx", False) else "h1"
        return format_html(
            '<{} class="{}" id="modal-title">{}</{}>',
            level,
            self.classes,
            self.nodelist.render(context),
            level,
        )


@register.tag
def modal_title(parser, token) -> ModalTitleNode:
    """`{% modal_title %}` or `{% modal_title "text-break" %}` (more classes)."""
    bits = token.split_contents()
    if len(bits) > 2:
        raise template.TemplateSyntaxError("modal_title takes at most one string of classes")
    extra = bits[1].strip("\"'") if len(bits) == 2 else ""
    nodelist = parser.parse(("endmodal_title",))
    parser.delete_first_token()
    return ModalTitleNode(nodelist, " ".join(["modal-title", *extra.split()]))
