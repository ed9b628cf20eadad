"""Reports: renderers for findings (text, JSON, HTML templates)."""
