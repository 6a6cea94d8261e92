"""What every report shares: the charts (matplotlib to inline SVG), the number formats, the page templates.

Reports are self-contained HTML: styles inline, charts inline SVG, no script, nothing fetched.
matplotlib and Jinja2 are imported on first use, so importing this package stays cheap.
"""

from . import charts, numbers
from .render import render, write_page

__all__ = ["charts", "numbers", "render", "write_page"]
