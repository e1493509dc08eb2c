"""The bundled sandbox: an Aurinko simulator and a reference CRM connector (small Flask apps)."""
