"""What operators watch: Prometheus metrics, readiness, structured logs with event tags."""
