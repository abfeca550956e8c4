"""sealbatch venue layer."""
