"""Pages every visitor needs: home, health check, display settings, error pages."""
