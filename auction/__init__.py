"""sealbatch auction layer."""
