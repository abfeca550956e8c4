"""sealbatch research layer."""
