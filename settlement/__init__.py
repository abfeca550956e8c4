"""sealbatch settlement layer."""
