"""plotext's and textual-plotext's private names that labdeck's plot relies on (plotext 5.3, textual-plotext 1.0).

- ``plotext._utility.colors_to_ansi``: how plotext writes a cell's (foreground, style, background) as ANSI, read
  back as a Rich style so that a figure's cells become styled segments without printing and parsing its text.
- ``Figure._set_size``, ``_set_sizes``, ``_build_matrix`` and ``monitor.matrix``: ``build()`` without its last
  step (an ANSI string that would only be parsed back); ``_set_size`` because ``plotsize`` alone left a figure at
  its first size (textual-plotext issue #5, closed by setting it in its own render, which labdeck does not use).
- ``PlotextPlot._get_plotext_theme_name`` and ``_register_theme``: the plotext theme textual-plotext makes of the
  app's theme, and the moment it has made it (to redraw in the new colours).
plotext 6 drops the module API that textual-plotext 1.0 draws with (it pins plotext < 6); labdeck stays on 5.x
until it draws with plotext 6 itself (the docs' reference says where that stands).
"""

from __future__ import annotations

import plotext._utility as plotext_utility
from textual_plotext import PlotextPlot


def colors_to_ansi(foreground, style, background) -> str:
    return plotext_utility.colors_to_ansi(foreground, style, background)


def build_matrix(plt, width: int, height: int):
    """Build the figure ``plt`` at ``width`` x ``height`` cells and return its matrix of cells (``marker``,
    ``fullground``, ``style``, ``background`` rows; ``Rows`` top row last; ``cols``)."""
    plt.plotsize(width, height)
    plt._set_size(width, height)
    plt._set_sizes()
    plt._build_matrix()
    return plt.monitor.matrix


class ThemedPlot(PlotextPlot):
    """A PlotextPlot that says which plotext theme it draws with and when the app's theme changed it."""

    def plotext_theme(self) -> str:
        return self._get_plotext_theme_name(self.app.theme)

    def theme_registered(self) -> None:
        """The app's theme changed and its plotext theme is made: draw in its colours."""

    def _register_theme(self, app_theme_name: str) -> None:
        super()._register_theme(app_theme_name)
        self.theme_registered()
