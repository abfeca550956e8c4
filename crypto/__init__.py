"""sealbatch crypto layer."""
