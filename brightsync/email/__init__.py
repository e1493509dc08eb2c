"""Email logging rules: classification, threading, content and CRM relations (pure)."""
